#!/usr/bin/env node
// The GitHub Action's steps (action.yml): `node bin/terrarium-action.cjs prepare|install`, with the
// inputs in INPUT_* variables as the runner passes them.
'use strict';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { abortOnSignals, runAction } = require('../dist/github-action.cjs');

runAction(process.argv[2] ?? '', { env: process.env, cwd: process.cwd(), log: process.stdout, signal: abortOnSignals() }).then((status) => {
  process.exitCode = status;
});
