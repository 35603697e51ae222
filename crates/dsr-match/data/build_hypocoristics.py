# python3 build_hypocoristics.py NICKNAMES_CLONE NAMOR_DATA_CLONE > hypocoristics.tsv
# Builds crates/dsr-match/data/hypocoristics.tsv from two maintained tables:
#  - carltonnorthern/nicknames names.csv (Apache-2.0), English
#  - DLu/namor_data data/*.yaml (BSD-3-Clause; facts extracted from en.wiktionary
#    "given name" entries): is_short_for and is_a_variant_of, every language
import subprocess, sys, unicodedata
NN = sys.argv[1]  # a clone of github.com/carltonnorthern/nicknames
NA = sys.argv[2]  # a clone of github.com/DLu/namor_data
def show(repo, path):
    return subprocess.run(["git", "-C", repo, "show", "HEAD:" + path], capture_output=True, text=True, check=True).stdout
pairs = set()  # (form, full, relation, source)
for line in show(NN, "names.csv").splitlines()[1:]:
    a, rel, b = line.strip().split(",")
    if rel == "has_nickname":
        pairs.add((b, a, "short", "en"))
files = subprocess.run(["git", "-C", NA, "ls-tree", "--name-only", "HEAD", "data/"], capture_output=True, text=True, check=True).stdout.split()
for f in files:
    name = None; key = None; rels = {}; langs = []
    def flush():
        if name is None: return
        lang = ",".join(langs) or "-"
        for k, targets in rels.items():
            for t in targets:
                pairs.add((name, t, "short" if k == "is_short_for" else "variant", lang))
    for line in show(NA, f).splitlines():
        if not line.startswith(" "):
            flush()
            name = line.rstrip(":").split(":")[0].strip().strip("'\""); rels = {}; langs = []; key = None
        elif line.startswith("  - "):
            v = line[4:].strip().strip("'\"")
            if key in ("is_short_for", "is_a_variant_of"): rels.setdefault(key, []).append(v)
            elif key == "lang": langs.append(v)
        elif line.startswith("  "):
            key = line.strip().split(":")[0]
    flush()
rows = sorted(p for p in pairs if p[0].lower() != p[1].lower() and "\t" not in p[0]+p[1])
out = sys.stdout
out.write("# form\tfull\trelation\tlanguages (ISO 639)\n")
for r in rows: out.write("\t".join(r) + "\n")
print(len(rows), file=sys.stderr)
