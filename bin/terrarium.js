#!/usr/bin/env node
import { main } from '../dist/main.js';

// The AWS SDK warns on every run under Node < 22 about its own future support window; terrarium
// supports Node 20 and speaks for itself, so that notice would only clutter every command's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.exitCode = await main(process.argv.slice(2));
