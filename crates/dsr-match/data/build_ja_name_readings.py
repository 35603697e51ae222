# python3 build_ja_name_readings.py IPADIC_DIR > ja-name-readings.tsv
# IPADIC_DIR: /usr/share/mecab/dic/ipadic of Debian's mecab-ipadic package
# (2.7.0-20070801+main-3: `apt-get download mecab-ipadic && dpkg-deb -x mecab-ipadic_*.deb x`).
# Takes Noun.name.csv (EUC-JP): person names, surname (姓) or given name (名), with their
# readings in katakana; keeps for each written form its three commonest readings (lowest
# cost), reading and pronunciation (タロウ, タロー) both.
import sys, collections
rows = collections.defaultdict(list)
with open(sys.argv[1] + "/Noun.name.csv", encoding="euc_jp") as f:
    for line in f:
        c = line.rstrip("\n").split(",")
        if len(c) < 13 or c[6] != "人名" or c[7] not in ("姓", "名"):
            continue
        kind = "s" if c[7] == "姓" else "g"
        rows[(c[0], kind)].append((int(c[3]), c[11], c[12]))
print("# written\tkind (s surname, g given)\treadings (katakana, commonest first)")
for (surface, kind), rs in sorted(rows.items()):
    if all("\u30a0" <= ch <= "\u30ff" or "\u3040" <= ch <= "\u309f" for ch in surface):
        continue  # kana: its reading is itself
    seen = []
    for _, reading, pron in sorted(rs)[:3]:
        for r in (reading, pron):
            if r not in seen and r != "*":
                seen.append(r)
    print(f"{surface}\t{kind}\t{','.join(seen)}")
