#!/bin/sh
# npm's prepare script: the TypeScript build (dist/). Under `npx lowbit ...` run from a checkout
# (npm_command=exec: npx links the checkout into its cache and runs its install and prepare
# scripts in the checkout) an existing dist/ is kept as it is, not rewritten under the processes
# using it (tests running meanwhile); `npm install`, `npm ci` and `npm pack` build it as before.
if [ "$npm_command" = exec ] && [ -f dist/src/cli/main.js ]; then
  exit 0
fi
exec tsc -p tsconfig.json
