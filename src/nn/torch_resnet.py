"""PyTorch twins of lesionrank's CNNs (src/nn/resnet.c): torchvision's ResNet18/ResNet50 with a
configurable base width, input channels and output size, and the 3D ResNet18 (3x7x7 stem with stride
1x2x2, 3x3x3 max pool stride 2, BasicBlocks with 3x3x3 convs). state_dict keys equal torchvision's.
Used by tests/gen_nn_refs.py, src/nn/bench_torch.py and analysis/torchvision_to_h5.py; needs torch only."""
import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride, three):
        super().__init__()
        Conv, BN = (nn.Conv3d, nn.BatchNorm3d) if three else (nn.Conv2d, nn.BatchNorm2d)
        self.conv1 = Conv(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BN(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = Conv(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = BN(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(Conv(inplanes, planes, 1, stride=stride, bias=False), BN(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride, three):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, arch, in_channels=1, width=64, out_size=1):
        super().__init__()
        three = arch == "resnet18_3d"
        block = Bottleneck if arch == "resnet50" else BasicBlock
        layers = [3, 4, 6, 3] if arch == "resnet50" else [2, 2, 2, 2]
        if three:
            self.conv1 = nn.Conv3d(in_channels, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False)
            self.bn1 = nn.BatchNorm3d(width)
            self.maxpool = nn.MaxPool3d(3, stride=2, padding=1)
            self.avgpool = nn.AdaptiveAvgPool3d(1)
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.relu = nn.ReLU(inplace=True)
        inplanes = width
        for i, n in enumerate(layers):
            planes = width << i
            blocks = []
            for j in range(n):
                blocks.append(block(inplanes, planes, 2 if (i > 0 and j == 0) else 1, three))
                inplanes = planes * block.expansion
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.fc = nn.Linear(inplanes, out_size)
        self.embedding_size = inplanes

    def forward_features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        emb = self.forward_features(x)
        return self.fc(emb), emb
