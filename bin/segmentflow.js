#!/usr/bin/env node
// The `segmentflow` executable: runs the built CLI (`npm run build` creates dist/).
import '../dist/main/entry.js';
