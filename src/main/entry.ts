/** Process entry of the `segmentflow` command (bin/segmentflow.js runs the built copy). */
import { runCli } from './cli.js';

// `serve` keeps the process alive through its server; every other command ends with its code.
process.exitCode = await runCli(process.argv);
