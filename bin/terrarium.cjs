#!/usr/bin/env node
// CommonJS, like the bundle it loads: Node 20 starts a CommonJS program without its ES module loader.
'use strict';

// The AWS SDK warns on every run under Node < 22 about its own future support window; terrarium
// supports Node 20 and speaks for itself, so that notice would only clutter every command's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('../dist/main.cjs')
  .main(process.argv.slice(2))
  .then((status) => {
    process.exitCode = status;
  });
