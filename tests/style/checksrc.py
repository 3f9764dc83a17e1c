#!/usr/bin/env python3
"""checksrc.py - the house style of src/, checked the way curl's checksrc does: by rules a
reviewer would otherwise repeat. Exit 1 with one line per finding (FILE:LINE: what).

  python3 tests/style/checksrc.py [ROOT]

- the first line of each file is its one-line purpose: /* NAME - what it is. */
- a .c file includes its own header first (when it has one), then <system> headers, then
  "project" headers, each group sorted and set apart by one blank line
- tabs indent; no trailing whitespace; lines of at most 110 columns (a tab is 8; write to 100), but for
  the purpose line and a line that is one string literal (a message is not broken, so
  that it can be found with grep, as the Linux kernel's checkpatch allows)
- none of sprintf, vsprintf, strcpy, strcat, gets (snprintf and friends bound every buffer)
- a header is guarded by ECHOSVC_NAME_H
- a file of more than 700 lines is a room that wants splitting (the guide says about 600)
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SRC = os.path.join(ROOT, "src")
BANNED = re.compile(r"\b(sprintf|vsprintf|strcpy|strcat|gets)\s*\(")
LINES_MAX = 700
COLUMNS_MAX = 110


def columns(line):
    return len(line.expandtabs(8))


def check(path, findings):
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    def say(n, what):
        findings.append("%s:%d: %s" % (os.path.relpath(path, ROOT), n, what))

    if not re.match(r"^/\* %s - \S.*\*/$" % re.escape(name), lines[0] if lines else ""):
        say(1, "the first line is not its purpose: /* %s - what it is. */" % name)
    if len(lines) > LINES_MAX:
        say(len(lines), "%d lines: more than %d, split the room" % (len(lines), LINES_MAX))
    in_comment = False
    for n, line in enumerate(lines, 1):
        if line != line.rstrip():
            say(n, "trailing whitespace")
        if columns(line) > COLUMNS_MAX and n > 1 and not line.lstrip().startswith('"'):
            say(n, "%d columns, more than %d" % (columns(line), COLUMNS_MAX))
        if re.match(r"^ +\S", line) and not in_comment and not line.lstrip().startswith("*"):
            say(n, "indented with spaces")
        code = re.sub(r'"(\\.|[^"\\])*"', '""', line)
        code = re.sub(r"/\*.*?\*/", "", code)
        if not in_comment and BANNED.search(code.split("//")[0]):
            say(n, "%s: use the bounded form" % BANNED.search(code).group(1))
        if "/*" in code and "*/" not in code[code.index("/*"):]:
            in_comment = True
        elif in_comment and "*/" in line:
            in_comment = False
    includes = [(n, line) for n, line in enumerate(lines, 1) if line.startswith("#include")]
    if name.endswith(".c") and includes:
        own = name[:-2] + ".h"
        if os.path.exists(os.path.join(os.path.dirname(path), own)) and \
                includes[0][1] != '#include "%s"' % own:
            say(includes[0][0], "the first include is not its own header %s" % own)
        if os.path.exists(os.path.join(os.path.dirname(path), own)):
            includes = includes[1:]
    # groups: runs of consecutive include lines
    groups, current = [], []
    for n, line in includes:
        if current and n != current[-1][0] + 1:
            groups.append(current)
            current = []
        current.append((n, line))
    if current:
        groups.append(current)
    seen_local = False
    for group in groups:
        kinds = {"<" if "<" in line else '"' for _, line in group}
        if len(kinds) > 1:
            say(group[0][0], "system and project headers mixed in one group")
            continue
        if "<" in kinds and seen_local:
            say(group[0][0], "system headers after project headers")
        if '"' in kinds:
            seen_local = True
        names = [line for _, line in group]
        if names != sorted(names):
            say(group[0][0], "includes not sorted")
    if name.endswith(".h"):
        guard = "ECHOSVC_%s_H" % re.sub(r"\W", "_", name[:-2]).upper()
        if not any(line == "#ifndef %s" % guard for line in lines[:5]):
            say(2, "not guarded by %s" % guard)


def main():
    findings = []
    for name in sorted(os.listdir(SRC)):
        if name.endswith((".c", ".h")):
            check(os.path.join(SRC, name), findings)
    for line in findings:
        print(line)
    print("checksrc: %d files, %d findings" % (
        len([n for n in os.listdir(SRC) if n.endswith((".c", ".h"))]), len(findings)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
