/** parseDockerfile() and dumpBuildkit(): heredocs, directives, continuations, quoting and every parse error. */
import { assert, assertEquals, assertThrows } from "../../assert.ts";
import {
  chompHeredoc,
  DockerfileError,
  dumpBuildkit,
  parseDockerfile,
  parseHeredocWord,
} from "../../../lib/dockerfile/mod.ts";
import { parseWords } from "../../../lib/dockerfile/_line_parsers.ts";

const dump = (s: string | Uint8Array) => dumpBuildkit(parseDockerfile(s));
function parseError(text: string | Uint8Array, filename = "Dockerfile"): DockerfileError {
  return assertThrows(() => parseDockerfile(text, { filename }), DockerfileError);
}

Deno.test("parseDockerfile() reads heredocs: body, chomp, quoted delimiters, several per line, fd prefix", () => {
  const r = parseDockerfile(
    [
      "FROM alpine",
      "RUN <<EOF",
      "echo $HOME",
      "EOF",
      "RUN <<-'A' cat > /a && 3<<\"B\" cat > /b",
      "\t\tindented",
      "\tA",
      "b body",
      "B",
      "COPY <<one <<two /dest/",
      "1",
      "one",
      "2",
      "two",
      'ADD <<E"O"F /x',
      "E",
      "EOF",
      "ONBUILD RUN <<X",
      "trigger",
      "X",
      'RUN ["sh", "-c", "<<EOF"]',
      "CMD <<EOF",
      "",
    ].join("\n"),
  );
  const [, run1, run2, copy, add, onbuild, json, cmd] = r.nodes;
  assertEquals(run1!.heredocs, [{
    name: "EOF",
    content: "echo $HOME\n",
    chomp: false,
    expand: true,
    fileDescriptor: 0,
  }]);
  assertEquals([run1!.startLine, run1!.endLine], [2, 4]);
  assertEquals(run2!.heredocs.map((h) => [h.name, h.content, h.chomp, h.expand, h.fileDescriptor]), [
    ["A", "\t\tindented\n", true, false, 0],
    ["B", "b body\n", false, false, 3],
  ]);
  assertEquals(chompHeredoc(run2!.heredocs[0]!.content), "indented\n");
  assertEquals(copy!.heredocs.map((h) => [h.name, h.content]), [["one", "1\n"], ["two", "2\n"]]);
  assertEquals(add!.heredocs.map((h) => [h.name, h.expand, h.content]), [["EOF", false, "E\n"]]);
  assertEquals([onbuild!.heredocs.length, onbuild!.child!.keyword, onbuild!.endLine], [1, "run", 20]);
  assertEquals([json!.json, json!.heredocs.length], [true, 0]);
  assertEquals([cmd!.heredocs.length, cmd!.args], [0, ["<<EOF"]]);
  assertEquals(
    dumpBuildkit(r).split("\n")[1],
    '(run "<<EOF")',
  );
});

Deno.test("parseDockerfile() keeps CRLF bodies and terminators as BuildKit", () => {
  const r = parseDockerfile("FROM a\r\nRUN <<EOF\r\nx\r\nEOF\r\nRUN b\r\n");
  assertEquals(r.nodes[1]!.heredocs[0]!.content, "x\r\n");
  assertEquals(r.nodes[2]!.args, ["b"]);
});

Deno.test("parseDockerfile() fails on an unterminated heredoc, with its line", () => {
  const e = parseError("FROM a\nRUN <<EOF\nno end\n", "df");
  assertEquals([e.message, e.line, e.endLine], ["df:2: unterminated heredoc", 2, 3]);
});

Deno.test("parseDockerfile() reads directives only at the top, case-insensitively", () => {
  const r = parseDockerfile("# Syntax = docker/dockerfile:1  \n#ESCAPE=`\n# check=skip=all\nFROM a\nRUN a `\n b\n");
  assertEquals(r.directives, [
    { name: "syntax", value: "docker/dockerfile:1", line: 1 },
    { name: "escape", value: "`", line: 2 },
    { name: "check", value: "skip=all", line: 3 },
  ]);
  assertEquals([r.escapeToken, r.nodes[1]!.args], ["`", ["a  b"]]);
  const late = parseDockerfile("# hello\n# escape=`\nFROM a\nRUN a \\\n b\n");
  assertEquals([late.escapeToken, late.directives.length, late.nodes[1]!.args], ["\\", 0, ["a  b"]]);
  const blank = parseDockerfile("\n# escape=`\nFROM a\n");
  assertEquals(blank.escapeToken, "\\");
  const unknown = parseDockerfile("# foo=bar\n# escape=`\nFROM a\n");
  assertEquals([unknown.escapeToken, unknown.directives.length], ["\\", 0]);
});

Deno.test("parseDockerfile() rejects repeated and invalid directives", () => {
  assertEquals(
    parseError("# escape=`\n# ESCAPE=\\\nFROM a\n").message,
    "Dockerfile:2: only one escape parser directive can be used",
  );
  assertEquals(parseError("#syntax=a\n#syntax=b\nFROM a\n").detail, "only one syntax parser directive can be used");
  assertEquals(parseError("# escape=x\nFROM a\n").detail, "invalid escape token 'x' does not match ` or \\");
  assertEquals(parseError("# escape=   \nFROM a\n").detail, "invalid escape token ' ' does not match ` or \\");
});

Deno.test("parseDockerfile() joins continuations, skipping comments and blank lines, with a warning", () => {
  const r = parseDockerfile("FROM a\nRUN a \\\n# comment\n\n   \n  b \\  \n\tc\n");
  assertEquals(r.nodes[1]!.args, ["a   b \tc"]);
  assertEquals([r.nodes[1]!.startLine, r.nodes[1]!.endLine], [2, 7]);
  assertEquals(r.warnings.map((w) => [w.line, w.message]), [[7, "Empty continuation line found in: RUN a   b \tc"]]);
  assertEquals(parseDockerfile("FROM a\nRUN x\\\\\nRUN y").nodes.map((n) => n.args[0]), ["a", "x\\\\", "y"]);
  assertEquals(parseDockerfile("FROM a\nRUN b \\").nodes[1]!.args, ["b"]);
  assertEquals(dump("\\\nFROM a\n"), '(from "a")\n');
});

Deno.test("parseDockerfile() strips a BOM, CRs, and leading blanks; comments between instructions", () => {
  const r = parseDockerfile("\uFEFF# about a\nFROM a\r\n   # not a directive\n\t  run   x  \r\n");
  assertEquals(r.nodes.map((n) => [n.keyword, n.keywordOriginal, n.args, n.comments]), [
    ["from", "FROM", ["a"], ["about a"]],
    ["run", "run", ["x"], ["not a directive"]],
  ]);
  assertEquals(r.directives, []);
});

Deno.test("parseDockerfile() extracts flags with quotes and escapes, stopping at --", () => {
  const r = parseDockerfile(
    'FROM a\nCOPY --chown="a b" --x=\'c d\' --e=f\\ g --empty="" -- --not-a-flag /d\nRUN --flag\nRUN --a --\n',
  );
  assertEquals(r.nodes[1]!.flags, ["--chown=a b", "--x=c d", "--e=f g", "--empty="]);
  assertEquals(r.nodes[1]!.args, ["--not-a-flag", "/d"]);
  assertEquals([r.nodes[2]!.flags, r.nodes[2]!.args], [["--flag"], []]);
  assertEquals([r.nodes[3]!.flags, r.nodes[3]!.args], [["--a"], []]);
});

Deno.test("parseDockerfile() splits arguments per instruction as BuildKit", () => {
  assertEquals(
    dump(
      [
        "FROM  a  AS  b",
        'ENV A=1 B="2 3" C=4\\ 5',
        "ENV OLD value with spaces",
        "LABEL 'k k'=v",
        'ARG x y="1 2"',
        "EXPOSE 80  443/udp",
        'VOLUME ["/a", "/b"]',
        "VOLUME /c /d",
        "USER  me:grp ",
        "HEALTHCHECK NONE",
        'SHELL ["/bin/bash", "-c"]',
        "ONBUILD ADD --chown=1 . /app",
        "ONBUILD",
        "MAINTAINER Me <me@x>",
        "STOPSIGNAL SIGKILL",
        "FOO bar baz",
        'CMD ["a", 1]x',
        "",
      ].join("\n"),
    ),
    [
      '(from "a" "AS" "b")',
      '(env "A" "1" "=" "B" "\\"2 3\\"" "=" "C" "4\\\\ 5" "=")',
      '(env "OLD" "value with spaces" "")',
      '(label "\'k k\'" "v" "=")',
      '(arg "x" "y=\\"1 2\\"")',
      '(expose "80" "443/udp")',
      '(volume "/a" "/b")',
      '(volume "/c" "/d")',
      '(user "me:grp")',
      '(healthcheck "NONE")',
      '(shell "/bin/bash" "-c")',
      '(onbuild (add ["--chown=1"] "." "/app"))',
      "(onbuild)",
      '(maintainer "Me <me@x>")',
      '(stopsignal "SIGKILL")',
      '(foo "")',
      '(cmd "[\\"a\\", 1]x")',
      "",
    ].join("\n"),
  );
});

Deno.test("parseDockerfile() reports every line-level error with its location", () => {
  const cases: [string, string][] = [
    ["FROM a\nENV A", "Dockerfile:2: ENV must have two arguments"],
    ["FROM a\nLABEL k", "Dockerfile:2: LABEL must have two arguments"],
    ["FROM a\nENV A=1 B", 'Dockerfile:2: Syntax error - can\'t find = in "B". Must be of the form: name=value'],
    ['FROM a\nRUN ["a", {}]', "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"],
    ["FROM a\nCOPY [1, 2]", "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"],
    [
      "FROM a\nONBUILD CMD [null]",
      "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only",
    ],
    ["", "Dockerfile:1: file with no instructions"],
    ["# a\n\n# b\n", "Dockerfile:3: file with no instructions"],
  ];
  for (const [text, msg] of cases) assertEquals(parseError(text).message, msg);
});

Deno.test("parseDockerfile() rejects lines over 65535 bytes, as BuildKit's scanner", () => {
  const ok = "FROM a\nRUN " + "x".repeat(65535 - 4) + "\n";
  assertEquals(parseDockerfile(ok).nodes.length, 2);
  const long = "FROM a\nRUN " + "é".repeat(40000) + "\nRUN b\n";
  assertEquals(parseError(long).message, "Dockerfile:2: dockerfile line greater than max allowed size of 65535");
  assertEquals(parseError("x".repeat(70000)).detail, "file with no instructions");
});

Deno.test("dumpBuildkit() quotes like Go's strconv.Quote, also for invalid UTF-8", () => {
  const text = 'FROM a\nCMD ["\\u0007\\b\\f\\n\\r\\t\\u000b\\u0001\\u007f\\u00a0\\u2028\\ufeff\\u00e9😀\\"\\\\"]\n';
  assertEquals(dump(text).split("\n")[1], '(cmd "\\a\\b\\f\\n\\r\\t\\v\\x01\\x7f\\u00a0\\u2028\\ufeffé😀\\"\\\\")');
  const bytes = new Uint8Array([...new TextEncoder().encode("FROM a\nRUN x"), 0xff, 0xc3, 0x28, 0x0a]);
  assertEquals(dump(bytes).split("\n")[1], '(run "x\\xff\\xc3(")');
  assertEquals(dump('FROM a\nCMD ["\\ud800x"]').split("\n")[1], '(cmd "\uFFFDx")');
  assertEquals(dump("FROM a\nRUN \u0085x\u00a0").split("\n")[1], '(run "x")'); // Go trims Unicode spaces
  assertEquals(dump('FROM a\nCMD ["\\u0085\\u200b\\u00ad"]').split("\n")[1], '(cmd "\\u0085\\u200b\\u00ad")');
});

Deno.test("parseDockerfile() uses the filename in messages and tolerates odd input", () => {
  const e = parseError("FROM a\nENV X", "sub/Dockerfile.dev");
  assertEquals([e.file, e.line, e.detail], ["sub/Dockerfile.dev", 2, "ENV must have two arguments"]);
  assert(e.exitCode === 1);
  assertEquals(dump('FROM a\nRUN echo "unterminated <<EOF\n').split("\n").length, 3);
  assertEquals(dump("FROM a\nRUN <<\nRUN x\n"), '(from "a")\n(run "<<")\n(run "x")\n');
});

Deno.test("parseDockerfile() extracts heredocs as BuildKit's TestParseExtractsHeredoc", () => {
  const text = [
    "",
    "FROM alpine:3.6",
    "",
    "ENV NAME=me",
    "",
    "RUN ls",
    "",
    "USER <<INVALID",
    "INVALID",
    "",
    "RUN <<EMPTY",
    "EMPTY",
    "",
    "RUN 3<<EMPTY2",
    "EMPTY2",
    "",
    'RUN "<<NOHEREDOC"',
    "",
    "RUN <<INDENT",
    "\tfoo",
    "\tbar",
    "INDENT",
    "",
    "RUN <<-UNINDENT",
    "\tbaz",
    "\tquux",
    "UNINDENT",
    "",
    "RUN <<-UNINDENT2",
    "\tbaz",
    "\tquux",
    "\tUNINDENT2",
    "",
    "RUN <<-EXPAND",
    "\texpand $NAME",
    "EXPAND",
    "",
    "RUN <<-'NOEXPAND'",
    "\tdon't expand $NAME",
    "NOEXPAND",
    "",
    "RUN <<COPY",
    "echo hello world",
    "echo foo bar",
    "COPY",
    "",
    "RUN <<COMMENT",
    "# internal comment",
    "echo hello world",
    "echo foo bar # trailing comment",
    "COMMENT",
    "",
    "RUN --mount=type=cache,target=/foo <<MOUNT",
    "echo hello",
    "MOUNT",
    "",
    "COPY <<FILE1 <<FILE2 /dest",
    "content 1",
    "FILE1",
    "content 2",
    "FILE2",
    "",
    "COPY <<EOF /quotes",
    '"foo"',
    "'bar'",
    "EOF",
    "",
    "COPY <<X <<Y /dest",
    "Y",
    "X",
    "X",
    "Y",
    "",
    "RUN <<COMPLEX python3",
    "print('hello world')",
    "COMPLEX",
    "",
    "COPY <<file.txt /dest",
    "hello world",
    "file.txt",
    "",
    "RUN <<eo'f'",
    "echo foo",
    "eof",
    "",
    "RUN <<eo\\'f",
    "echo foo",
    "eo'f",
    "",
    "RUN <<'e'o\\'f",
    "echo foo",
    "eo'f",
    "",
    "RUN <<'one two'",
    "echo bar",
    "one two",
    "",
    "RUN <<$EOF",
    "$EOF",
    "\t",
  ].join("\n");
  const h = (name: string, content: string, expand = true, chomp = false, fileDescriptor = 0) => ({
    name,
    content,
    chomp,
    expand,
    fileDescriptor,
  });
  const expected = [
    [],
    [],
    [],
    [],
    [h("EMPTY", "")],
    [h("EMPTY2", "", true, false, 3)],
    [],
    [h("INDENT", "\tfoo\n\tbar\n")],
    [h("UNINDENT", "\tbaz\n\tquux\n", true, true)],
    [h("UNINDENT2", "\tbaz\n\tquux\n", true, true)],
    [h("EXPAND", "\texpand $NAME\n", true, true)],
    [h("NOEXPAND", "\tdon't expand $NAME\n", false, true)],
    [h("COPY", "echo hello world\necho foo bar\n")],
    [h("COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n")],
    [h("MOUNT", "echo hello\n")],
    [h("FILE1", "content 1\n"), h("FILE2", "content 2\n")],
    [h("EOF", "\"foo\"\n'bar'\n")],
    [h("X", "Y\n"), h("Y", "X\n")],
    [h("COMPLEX", "print('hello world')\n")],
    [h("file.txt", "hello world\n")],
    [h("eof", "echo foo\n", false)],
    [h("eo'f", "echo foo\n")],
    [h("eo'f", "echo foo\n", false)],
    [h("one two", "echo bar\n", false)],
    [h("$EOF", "")],
  ];
  const r = parseDockerfile(text);
  assertEquals(r.nodes.slice(1).map((n) => n.heredocs), expected);
  const json = parseDockerfile('FROM alpine:3.6\nRUN ["whoami"]\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n');
  assertEquals(json.nodes.map((n) => n.heredocs.length), [0, 0, 0, 0]);
});

Deno.test("parseHeredocWord() recognises heredoc words as BuildKit's ParseHeredoc", () => {
  for (const w of ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'", '<<-"EOF"', '<<EO"F"']) {
    assertEquals(parseHeredocWord(w)?.name, "EOF", w);
  }
  for (const w of ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"]) {
    assertEquals(parseHeredocWord(w), undefined, w);
  }
  for (const w of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) assertThrows(() => parseHeredocWord(w), Error);
  const lineNames = (line: string) =>
    parseDockerfile(`FROM a\n${line}\nEOF\nEOF2\n`).nodes[1]!.heredocs.map((d) => d.name);
  assertEquals(lineNames("RUN <<EOF"), ["EOF"]);
  assertEquals(lineNames("RUN <<-EOF"), ["EOF"]);
  assertEquals(lineNames("RUN <<'EOF'"), ["EOF"]);
  assertEquals(lineNames("RUN 4<<EOF"), ["EOF"]);
  assertEquals(lineNames("RUN <<EOF <<EOF2"), ["EOF", "EOF2"]);
  assertEquals(lineNames("RUN '<<EOF'"), []);
  assertEquals(lineNames('RUN "<<EOF"'), []);
});

Deno.test("parseWords() splits ENV/LABEL/ARG words as BuildKit's TestParseWords", () => {
  const cases: [string, string[]][] = [
    ["foo", ["foo"]],
    ["foo bar", ["foo", "bar"]],
    ["foo\\ bar", ["foo\\ bar"]],
    ["foo=bar", ["foo=bar"]],
    ["foo bar 'abc xyz'", ["foo", "bar", "'abc xyz'"]],
    ['foo bar "abc xyz"', ["foo", "bar", '"abc xyz"']],
    ["àöû", ["àöû"]],
    ['föo bàr "âbc xÿz"', ["föo", "bàr", '"âbc xÿz"']],
    ['a "" b', ["a", '""', "b"]],
    ['"a\\"b" c\\', ['"a\\"b"', "c"]],
  ];
  for (const [input, want] of cases) assertEquals(parseWords(input, "\\"), want, input);
});
