#!/usr/bin/env node
// The `segmentflow` executable: runs the built CLI (npm run build creates dist/).
import { runCli } from '../dist/main/cli.js';

// `serve` keeps the process alive through its server; every other command ends with its code.
process.exitCode = await runCli(process.argv);
