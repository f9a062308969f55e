/* commands.h: the subcommands main() dispatches to. Each takes the
 * arguments after the command name (argv[0] is the first of them) and
 * returns the process exit status: 0 success, 1 failure, 2 bad usage. */
#ifndef GRAFT_COMMANDS_H
#define GRAFT_COMMANDS_H

/* graft weights FILE [--check] [--write OUT]: list, validate or re-write a
 * safetensors file. */
int graft_cmd_weights(int argc, char **argv);

/* graft step: one training step on a given batch, for parity checks. */
int graft_cmd_step(int argc, char **argv);

/* graft bench: training throughput on random data. */
int graft_cmd_bench(int argc, char **argv);

/* graft train: fine-tune a classifier on a dataset (config keys: --help). */
int graft_cmd_train(int argc, char **argv);

/* graft eval: metrics of a checkpoint on the validation split. */
int graft_cmd_eval(int argc, char **argv);

/* graft predict: top-k classes with probabilities per image. */
int graft_cmd_predict(int argc, char **argv);

#endif
