/* The verbs `lesionrank <verb>` dispatches to (src/main.c). Each verb parses its own options
 * (getopt_long), prints its --help, and returns the process exit code: 0 ok, 1 runtime/input error,
 * 2 usage error. A verb lives in the folder of its concern (src/data/cmd_cohort.c, src/runner/cmd_run.c, ...);
 * its file includes this header so the definition is checked against the declaration. */
#ifndef LR_VERBS_H
#define LR_VERBS_H

int cmd_synth(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_predict(int argc, char **argv);

#endif
