// Type-checks the kit (make test-ts): the seed's and the extensions'
// calls and the socket messages compile against the generated types, and
// every wrong call in wrong-*.ts fails on its own. The TypeScript compiler
// is the pinned devDependency (../package.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const tsc = path.join(here, "..", "node_modules", "typescript", "bin", "tsc");

function runTsc(project) {
  const r = spawnSync(process.execPath, [tsc, "-p", project, "--pretty", "false"], { cwd: here, encoding: "utf8" });
  return { status: r.status, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

test("the good calls compile and every @ts-expect-error is an error", () => {
  const { status, out } = runTsc("tsconfig.json");
  assert.equal(status, 0, `tsc failed:\n${out}`);
});

// The procedures of AppRouter, by path, read back from api.d.ts (a
// router's name and its procedures' each on a line of their own).
function procedurePaths() {
  const paths = [];
  const stack = [];
  for (const line of readFileSync(path.join(here, "..", "api.d.ts"), "utf8").split("\n")) {
    const m = /^( +)(\w+): (\{|TRPC(Query|Mutation)Procedure<)/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 2 - 2; // the record's fields are at 4 spaces
    if (depth < 0) continue;
    stack.length = depth;
    if (m[3] === "{") stack.push(m[2]);
    else paths.push([...stack, m[2]].join("."));
  }
  return paths;
}

// Every procedure is called at least once by the files that must compile:
// the seed's (PROTOCOL.md's tables, as web/testdata copies them) in
// seed-calls.ts, the others in extension-calls.ts.
test("every procedure has a call that compiles", () => {
  const code = (file) => readFileSync(path.join(here, file), "utf8").replace(/\/\/.*$/gm, ""); // without comments
  const seedCalls = code("seed-calls.ts");
  const extensionCalls = code("extension-calls.ts");
  const contract = readFileSync(path.join(here, "..", "..", "..", "web", "testdata", "contract-procedures.txt"), "utf8").split(/\s+/).filter(Boolean);
  const paths = procedurePaths();
  assert.ok(paths.length >= contract.length, `only ${paths.length} procedures read from api.d.ts`);
  for (const p of contract) {
    assert.ok(paths.includes(p), `PROTOCOL.md's ${p} is not in AppRouter`);
    assert.ok(seedCalls.includes(`trpc.${p}.`), `seed-calls.ts does not call ${p}`);
  }
  for (const p of paths.filter((p) => !contract.includes(p))) {
    assert.ok(extensionCalls.includes(`trpc.${p}.`), `extension-calls.ts does not call ${p}: add a call as a client would make it`);
  }
});

// With its @ts-expect-error lines blanked, a wrong file must fail with an
// error after each of them: so a directive never hides a call that
// compiles, and an error never comes from the file's other lines.
for (const file of ["wrong-calls.ts", "wrong-socket-messages.ts"]) {
  test(`${file}: each wrong call fails without its directive`, () => {
    const lines = readFileSync(path.join(here, file), "utf8").split("\n");
    const directives = [];
    const stripped = lines.map((line, i) => {
      if (/^\s*\/\/ @ts-expect-error/.test(line)) {
        directives.push(i + 1); // 1-based, as tsc reports
        return "//";
      }
      return line;
    });
    assert.ok(directives.length >= 5, `${file} has only ${directives.length} wrong calls`);
    const copy = `.stripped-${file}`;
    const project = `.stripped-${file}.json`;
    writeFileSync(path.join(here, copy), stripped.join("\n"));
    writeFileSync(path.join(here, project), JSON.stringify({ extends: "./tsconfig.json", files: [copy] }));
    try {
      const { status, out } = runTsc(project);
      assert.notEqual(status, 0, `${file} compiled without its directives`);
      const errorLines = [...out.matchAll(new RegExp(`${copy.replace(/\./g, "\\.")}\\((\\d+),\\d+\\): error`, "g"))].map((m) => Number(m[1]));
      assert.ok(errorLines.length > 0, `no errors in ${copy}:\n${out}`);
      for (const [k, line] of directives.entries()) {
        const end = directives[k + 1] ?? Infinity;
        assert.ok(errorLines.some((l) => l > line && l < end), `${file}:${line + 1}: compiles without its @ts-expect-error`);
      }
      for (const l of errorLines) {
        assert.ok(directives.some((d) => d < l), `${file}:${l}: an error before any directive:\n${out}`);
      }
      const unexpected = out.split("\n").filter((l) => /error TS/.test(l) && !l.includes(copy));
      assert.deepEqual(unexpected, [], "errors outside the wrong file");
    } finally {
      rmSync(path.join(here, copy), { force: true });
      rmSync(path.join(here, project), { force: true });
    }
  });
}
