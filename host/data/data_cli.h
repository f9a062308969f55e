/* data_cli.h: the data pipeline's subcommands, for main() to dispatch to.
 * Each takes the arguments after the command name and returns the exit
 * status: 0 success, 1 failure (for inspect --strict also: problems
 * found), 2 bad usage. */
#ifndef GRAFT_DATA_CLI_H
#define GRAFT_DATA_CLI_H

/* graft inspect DATA [--json] [--strict] [imbalance_warn=R] [threads=N]
 * [val_ratio=F] [seed=N] [max_pixels=N]: counts, imbalance, image sizes,
 * unreadable files, duplicates and train/val leakage, and for detection
 * label problems. */
int graft_cmd_inspect(int argc, char **argv);

/* graft prepare DATA cache=FILE [size=N] [threads=N] [on_bad_image=error|skip]
 * [max_pixels=N]: writes the memory-mappable cache of decoded, shrunk
 * images that cache=file runs map. */
int graft_cmd_prepare(int argc, char **argv);

/* graft bench-data DIR [n=N] [size=N] [workers=N] [epochs=N]: decode +
 * augment throughput on one thread, and the cache=ram loader's rate. */
int graft_cmd_bench_data(int argc, char **argv);

#endif
