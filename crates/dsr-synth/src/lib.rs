//! Synthetic, multilingual data subjects and the messy ways people write their
//! identifiers, for dsr's benchmarks and accuracy report.
//!
//! Deterministic (a seeded SplitMix64), no dependencies beyond the model: the same seed
//! gives the same corpus on every machine, so figures can be compared across runs.
//! Names are built from per-locale syllables so the vocabulary grows with the corpus the
//! way real surnames do (a few very common, a long tail of rare ones).

pub mod corpus;
pub mod corrupt;

use dsr_model::{Handle, Subject, SubjectId, SubjectKind, Term, TermType};
use unicode_normalization::UnicodeNormalization;

/// A small, fast, deterministic PRNG (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// One element.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    /// Zipf-like skewed pick: low indices are much more frequent.
    pub fn skewed<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let i = ((xs.len() as f64).powf(u) - 1.0) as usize;
        &xs[i.min(xs.len() - 1)]
    }
}

/// A locale: how people there are named, addressed and called.
#[derive(Debug)]
pub struct Locale {
    /// Short code (`fr`, `de`, …).
    pub code: &'static str,
    /// ISO region for phone numbers.
    pub region: &'static str,
    given: &'static [&'static str],
    sur_a: &'static [&'static str],
    sur_b: &'static [&'static str],
    sur_c: &'static [&'static str],
    streets: &'static [&'static str],
    cities: &'static [(&'static str, &'static str)],
    /// Address pattern: `{N}` house number, `{S}` street, `{P}` postcode, `{C}` city.
    addr: &'static str,
    cc: &'static str,
    /// National mobile prefix digits after the trunk zero (or none).
    mobile: &'static [&'static str],
    national_len: usize,
    trunk: &'static str,
    domain: &'static str,
    /// Family name first (Japanese).
    family_first: bool,
    /// Whether names need transliteration for emails.
    latin: bool,
}

/// The locales generated: French, German, Dutch, Spanish, Polish, Turkish, Japanese,
/// Russian.
pub static LOCALES: &[Locale] = &[
    Locale {
        code: "fr",
        region: "FR",
        given: &[
            "Jean",
            "Marie",
            "Pierre",
            "Zoë",
            "Hélène",
            "François",
            "Camille",
            "Léa",
            "Chloé",
            "Louis",
            "Gaël",
            "Anaïs",
            "Jérôme",
            "Cécile",
            "Noël",
            "Agnès",
            "Thomas",
            "Élodie",
            "Benoît",
            "Inès",
        ],
        sur_a: &[
            "Du", "Le", "Mar", "Ber", "Gar", "Ro", "Fau", "Lam", "Bou", "Mo", "Gi", "Pe", "Chau",
            "Fon", "Val", "Beau", "Ri", "Cha", "Mer", "Tes",
        ],
        sur_b: &[
            "", "", "pon", "ran", "ti", "nar", "cier", "ber", "ch", "ro", "lan", "vel", "mon",
            "ga", "ssi",
        ],
        sur_c: &[
            "t", "d", "eau", "ard", "in", "et", "ier", "ot", "aud", "on", "ais", "ès", "elle",
            "ault", "oux",
        ],
        streets: &[
            "rue de la Paix",
            "avenue Foch",
            "boulevard Saint-Michel",
            "rue Victor Hugo",
            "place de la République",
            "chemin des Vignes",
            "allée des Tilleuls",
            "rue du Général Leclerc",
            "impasse des Lilas",
            "quai de la Loire",
        ],
        cities: &[
            ("75002", "Paris"),
            ("69006", "Lyon"),
            ("13001", "Marseille"),
            ("31000", "Toulouse"),
            ("44000", "Nantes"),
            ("67000", "Strasbourg"),
        ],
        addr: "{N}, {S}, {P} {C}",
        cc: "33",
        mobile: &["6", "7"],
        national_len: 9,
        trunk: "0",
        domain: "exemple.fr",
        family_first: false,
        latin: true,
    },
    Locale {
        code: "de",
        region: "DE",
        given: &[
            "Jürgen",
            "Anna",
            "Lukas",
            "Sören",
            "Jörg",
            "Käthe",
            "Maximilian",
            "Lena",
            "Björn",
            "Ute",
            "Günther",
            "Sophie",
            "Matthias",
            "Hannah",
            "Dörte",
            "Felix",
            "Jan",
            "Mia",
            "Uwe",
            "Grete",
        ],
        sur_a: &[
            "Mül", "Schmi", "Schnei", "Fi", "We", "Mey", "Wag", "Be", "Schu", "Hoff", "Ko", "Rich",
            "Klei", "Wol", "Schrö", "Neu", "Schwarz", "Zimmer", "Braun", "Krü",
        ],
        sur_b: &["", "", "", "ber", "den", "ste", "lin", "ha", "man"],
        sur_c: &[
            "ler", "dt", "der", "scher", "ber", "er", "ner", "cker", "lz", "mann", "ch", "n", "f",
            "ger", "ke",
        ],
        streets: &[
            "Hauptstraße",
            "Bahnhofstraße",
            "Lindenweg",
            "Schillerplatz",
            "Goethestraße",
            "Am Markt",
            "Gartenweg",
            "Dorfstraße",
            "Kirchgasse",
            "Berliner Allee",
        ],
        cities: &[
            ("10115", "Berlin"),
            ("80802", "München"),
            ("20095", "Hamburg"),
            ("50667", "Köln"),
            ("60311", "Frankfurt am Main"),
            ("70173", "Stuttgart"),
        ],
        addr: "{S} {N}, {P} {C}",
        cc: "49",
        mobile: &["151", "160", "171", "176"],
        national_len: 11,
        trunk: "0",
        domain: "beispiel.de",
        family_first: false,
        latin: true,
    },
    Locale {
        code: "nl",
        region: "NL",
        given: &[
            "Sanne", "Daan", "Pieter", "Eva", "Bram", "Femke", "Joost", "Anouk", "Sem", "Lotte",
            "Thijs", "Noor", "Ruben", "Isa", "Wouter",
        ],
        sur_a: &[
            "de Vr",
            "Jan",
            "van den B",
            "Bak",
            "Vis",
            "Sm",
            "Meij",
            "de Bo",
            "Mul",
            "de Gr",
            "Bos",
            "Vos",
            "Pe",
            "Hen",
            "van Dij",
            "Ja",
            "Dek",
            "Bru",
        ],
        sur_b: &["", "", "s", "ee", "oo", "ij"],
        sur_c: &[
            "ies", "sen", "erg", "ker", "ser", "it", "er", "er", "ler", "oot", "ch", "k", "ters",
            "driks", "nsen",
        ],
        streets: &[
            "Kerkstraat",
            "Dorpsstraat",
            "Molenweg",
            "Stationsplein",
            "Prinsengracht",
            "Julianalaan",
            "Schoolstraat",
            "Beukenlaan",
            "Marktplein",
            "Nieuwe Weg",
        ],
        cities: &[
            ("1017 GB", "Amsterdam"),
            ("3011 AB", "Rotterdam"),
            ("2511 CV", "Den Haag"),
            ("3511 LX", "Utrecht"),
            ("5611 AZ", "Eindhoven"),
        ],
        addr: "{S} {N}, {P} {C}",
        cc: "31",
        mobile: &["6"],
        national_len: 9,
        trunk: "0",
        domain: "voorbeeld.nl",
        family_first: false,
        latin: true,
    },
    Locale {
        code: "es",
        region: "ES",
        given: &[
            "José", "María", "Lucía", "Sofía", "Álvaro", "Martín", "Jesús", "Inés", "Raúl",
            "Begoña", "Íñigo", "Nerea", "Andrés", "Ramón", "Elena",
        ],
        sur_a: &[
            "Gar", "Ló", "Gon", "Rodrí", "Fernán", "Mar", "Sán", "Pé", "Gó", "Jimé", "Ruiz", "Her",
            "Díaz", "Mo", "Mu", "Ál", "Ro", "Na", "Tor", "Do",
        ],
        sur_b: &["", "", "", "nán", "ti", "re"],
        sur_c: &[
            "cía", "pez", "zález", "guez", "dez", "tínez", "chez", "rez", "mez", "nez", "ro", "ño",
            "varez", "mero", "varro",
        ],
        streets: &[
            "Calle Mayor",
            "Avenida de la Constitución",
            "Calle Real",
            "Plaza de España",
            "Paseo de Gracia",
            "Calle del Sol",
            "Avenida Andalucía",
            "Calle Nueva",
            "Calle Alcalá",
            "Ronda de Toledo",
        ],
        cities: &[
            ("28013", "Madrid"),
            ("08007", "Barcelona"),
            ("41001", "Sevilla"),
            ("46002", "Valencia"),
            ("48001", "Bilbao"),
        ],
        addr: "{S} {N}, {P} {C}",
        cc: "34",
        mobile: &["6", "7"],
        national_len: 9,
        trunk: "",
        domain: "ejemplo.es",
        family_first: false,
        latin: true,
    },
    Locale {
        code: "pl",
        region: "PL",
        given: &[
            "Małgorzata",
            "Łukasz",
            "Agnieszka",
            "Paweł",
            "Katarzyna",
            "Michał",
            "Zofia",
            "Wojciech",
            "Joanna",
            "Kamil",
            "Grażyna",
            "Jędrzej",
            "Anna",
            "Piotr",
            "Ewa",
        ],
        sur_a: &[
            "Now", "Kowal", "Wiśniew", "Wójcik", "Kamiń", "Lewan", "Zieliń", "Szyman", "Woźniak",
            "Dąbrow", "Kozłow", "Jankow", "Mazur", "Kwiat", "Krawczyk", "Piotrow", "Grabow",
            "Pawłow", "Michal", "Król",
        ],
        sur_b: &["", "", "", "ow", "ie"],
        sur_c: &[
            "ak", "ski", "ska", "ska", "ski", "ek", "owski", "owska", "czyk", "ka", "ik",
        ],
        streets: &[
            "ul. Marszałkowska",
            "ul. Piotrkowska",
            "al. Jerozolimskie",
            "ul. Długa",
            "ul. Floriańska",
            "pl. Zamkowy",
            "ul. Świętokrzyska",
            "ul. Mickiewicza",
            "os. Słoneczne",
            "ul. Kościuszki",
        ],
        cities: &[
            ("00-590", "Warszawa"),
            ("90-001", "Łódź"),
            ("30-001", "Kraków"),
            ("50-001", "Wrocław"),
            ("80-001", "Gdańsk"),
        ],
        addr: "{S} {N}, {P} {C}",
        cc: "48",
        mobile: &["5", "6", "7"],
        national_len: 9,
        trunk: "",
        domain: "przyklad.pl",
        family_first: false,
        latin: true,
    },
    Locale {
        code: "tr",
        region: "TR",
        given: &[
            "Ayşe", "Mehmet", "Fatma", "Mustafa", "Emine", "Ahmet", "Hatice", "İbrahim", "Zeynep",
            "Hüseyin", "Özge", "Çağlar", "Gül", "Şükrü", "Ömer",
        ],
        sur_a: &[
            "Yıl", "Kaya", "De", "Şa", "Çe", "Yıldı", "Öz", "Ay", "Ars", "Doğ", "Kı", "As", "Ko",
            "Çak", "Kurt", "Öz", "Şim", "Aydı", "Ta", "Er",
        ],
        sur_b: &["", "", "", "mir", "lan", "ğan"],
        sur_c: &[
            "maz", "", "mir", "hin", "lik", "rım", "türk", "dın", "lan", "an", "lıç", "lan", "ç",
            "ır", "şek", "tekin", "doğan",
        ],
        streets: &[
            "Atatürk Cad.",
            "İstiklal Caddesi",
            "Cumhuriyet Mah.",
            "Gül Sokak",
            "Bağdat Caddesi",
            "Çiçek Sok.",
            "Fatih Mahallesi",
            "Barış Sokağı",
            "Zafer Cad.",
            "Menekşe Sk.",
        ],
        cities: &[
            ("34000", "İstanbul"),
            ("06000", "Ankara"),
            ("35000", "İzmir"),
            ("16000", "Bursa"),
            ("07000", "Antalya"),
        ],
        addr: "{S} No: {N}, {P} {C}",
        cc: "90",
        mobile: &["53", "54", "55"],
        national_len: 10,
        trunk: "0",
        domain: "ornek.com.tr",
        family_first: false,
        latin: true,
    },
    Locale {
        code: "ja",
        region: "JP",
        given: &[
            "太郎",
            "花子",
            "翔",
            "陽菜",
            "蓮",
            "結衣",
            "大輔",
            "美咲",
            "健太",
            "さくら",
            "ハナコ",
            "ユウキ",
            "真央",
            "拓也",
            "愛",
        ],
        sur_a: &[
            "山", "田", "佐", "鈴", "高", "渡", "伊", "中", "小", "加", "吉", "松", "井", "木",
            "林", "清", "斎", "森", "池", "石",
        ],
        sur_b: &[""],
        sur_c: &[
            "田", "中", "藤", "木", "橋", "辺", "村", "川", "本", "野", "上", "井", "島", "原",
            "口", "崎", "水", "山", "谷", "沢",
        ],
        streets: &[
            "千代田",
            "丸の内",
            "銀座",
            "梅田",
            "栄",
            "中央",
            "本町",
            "天神",
            "桜木町",
            "元町",
        ],
        cities: &[
            ("100-0001", "東京都千代田区"),
            ("530-0001", "大阪府大阪市北区"),
            ("460-0008", "愛知県名古屋市中区"),
            ("810-0001", "福岡県福岡市中央区"),
            ("060-0001", "北海道札幌市中央区"),
        ],
        addr: "〒{P} {C} {S} {N}-2-3",
        cc: "81",
        mobile: &["90", "80", "70"],
        national_len: 10,
        trunk: "0",
        domain: "example.jp",
        family_first: true,
        latin: false,
    },
    Locale {
        code: "ru",
        region: "RU",
        given: &[
            "Иван",
            "Мария",
            "Алексей",
            "Ольга",
            "Дмитрий",
            "Наталья",
            "Сергей",
            "Екатерина",
            "Андрей",
            "Юлия",
            "Михаил",
            "Татьяна",
            "Павел",
            "Анна",
            "Фёдор",
        ],
        sur_a: &[
            "Ива",
            "Пет",
            "Сми",
            "Кузне",
            "Попо",
            "Васи",
            "Соко",
            "Михай",
            "Нови",
            "Фёдо",
            "Моро",
            "Воло",
            "Алек",
            "Лебе",
            "Семё",
            "Его",
            "Павло",
            "Козло",
            "Степа",
            "Никола",
        ],
        sur_b: &["", "", "", "ц"],
        sur_c: &[
            "нов", "ров", "рнов", "цов", "пов", "льев", "лов", "лов", "ков", "ров", "зов", "дин",
            "сеев", "дев", "нов", "ров", "лов", "вов", "нов", "ев",
        ],
        streets: &[
            "ул. Тверская",
            "ул. Ленина",
            "пр. Мира",
            "ул. Гагарина",
            "ул. Пушкина",
            "ул. Садовая",
            "пер. Лесной",
            "ул. Советская",
            "пр. Невский",
            "ул. Молодёжная",
        ],
        cities: &[
            ("125009", "Москва"),
            ("191186", "Санкт-Петербург"),
            ("630099", "Новосибирск"),
            ("620014", "Екатеринбург"),
            ("420111", "Казань"),
        ],
        addr: "{S}, д. {N}, {C}, {P}",
        cc: "7",
        mobile: &["9"],
        national_len: 10,
        trunk: "8",
        domain: "primer.ru",
        family_first: false,
        latin: false,
    },
];

/// The truth about one generated person, to check lookups against.
#[derive(Debug, Clone)]
pub struct Person {
    /// Locale index into [`LOCALES`].
    pub locale: usize,
    /// The stored subject.
    pub subject: Subject,
    /// Given name and family name, as stored.
    pub given: String,
    /// Family name.
    pub family: String,
    /// Street, house number, postcode, city.
    pub address: (String, u32, String, String),
    /// National significant number (without country code or trunk).
    pub nsn: String,
}

fn surname(rng: &mut Rng, l: &Locale) -> String {
    let mut s = String::new();
    for part in [rng.skewed(l.sur_a), rng.pick(l.sur_b), rng.skewed(l.sur_c)] {
        s.push_str(part);
    }
    s
}

/// Latin-script, ASCII, lower-case form for email local parts.
pub fn ascii_lower(s: &str) -> String {
    let mut out = String::new();
    for c in s.nfd() {
        match c {
            'ł' | 'Ł' => out.push('l'),
            'ı' => out.push('i'),
            'ß' => out.push_str("ss"),
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    out
}

/// Generates person number `i` (deterministic in `seed` and `i`).
pub fn person(seed: u64, i: u64) -> Person {
    let mut rng = Rng::new(seed.wrapping_mul(1_000_003) ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let li = (i % LOCALES.len() as u64) as usize;
    let l = &LOCALES[li];
    let given = rng.skewed(l.given).to_string();
    let family = surname(&mut rng, l);
    let name = if l.family_first {
        format!("{family} {given}")
    } else {
        format!("{given} {family}")
    };
    let kind = match i % 20 {
        0 => SubjectKind::User,
        1 | 2 => SubjectKind::DialerContact,
        _ => SubjectKind::ExternalContact,
    };
    let mut s = Subject::new(
        kind,
        SubjectId::new(format!("{}-{i}", &kind.as_str()[..1])).expect("valid id"),
    );
    s.names.push(name);
    let local = if l.latin {
        format!("{}.{}{}", ascii_lower(&given), ascii_lower(&family), i)
    } else {
        format!("user{i}")
    };
    s.emails.push(format!("{local}@{}", l.domain));
    // Unique national number: mobile prefix + the person number spread over the digits.
    let mobile = rng.pick(l.mobile);
    let rest_len = l.national_len - mobile.len();
    let body = format!(
        "{:0width$}",
        (i * 7919 + 13) % 10u64.pow(rest_len as u32),
        width = rest_len
    );
    let nsn = format!("{mobile}{body}");
    s.phones.push(format!("+{} {}", l.cc, group(&nsn)));
    let street = rng.pick(l.streets).to_string();
    let number = 1 + rng.below(180) as u32;
    let (postcode, city) = *rng.pick(l.cities);
    // One pass over the template: a replacement must not be substituted again
    // ("2511 CV" contains the C placeholder's letter).
    let mut address = String::new();
    let mut rest = l.addr;
    while let Some(i) = rest.find('{') {
        address.push_str(&rest[..i]);
        let Some((field, tail)) = rest[i + 1..].split_once('}') else {
            break;
        };
        match field {
            "N" => address.push_str(&number.to_string()),
            "S" => address.push_str(&street),
            "P" => address.push_str(postcode),
            _ => address.push_str(city),
        }
        rest = tail;
    }
    address.push_str(rest);
    s.addresses.push(address);
    if rng.chance(0.3) {
        let handle = if l.latin {
            format!("{}{}", ascii_lower(&given), i)
        } else {
            format!("u{i}")
        };
        s.handles.push(Handle {
            platform: (*rng.pick(&["twitter", "instagram", "facebook"])).to_owned(),
            value: format!("@{handle}"),
        });
    }
    if kind == SubjectKind::User {
        s.employment = Some(if rng.chance(0.7) {
            dsr_model::Employment::Active
        } else {
            dsr_model::Employment::Former
        });
    }
    if kind == SubjectKind::DialerContact {
        s.contact_list = Some(format!("list-{}", i % 50));
    }
    s.external_ids.push(format!("CRM-{i:08}"));
    Person {
        locale: li,
        subject: s,
        given,
        family,
        address: (street, number, postcode.to_owned(), city.to_owned()),
        nsn,
    }
}

fn group(digits: &str) -> String {
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && k % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `n` subjects starting at person 0.
pub fn subjects(seed: u64, n: u64) -> impl Iterator<Item = Subject> {
    (0..n).map(move |i| person(seed, i).subject)
}

/// A term as a person might write it, with what was done to it.
#[derive(Debug, Clone)]
pub struct Query {
    /// The term (typed or bare, as a user gives it).
    pub term: Term,
    /// The region a user would give with the query (for national phone forms).
    pub region: Option<String>,
    /// The corruptions applied (for the report).
    pub corruption: &'static str,
}

/// Full-width forms of ASCII (what an East Asian input method types).
pub(crate) fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            ' ' => '\u{3000}',
            c => c,
        })
        .collect()
}

fn strip_marks(s: &str) -> String {
    s.nfd()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .map(|c| match c {
            'ł' => 'l',
            'Ł' => 'L',
            'ı' => 'i',
            c => c,
        })
        .collect::<String>()
        .nfc()
        .collect()
}

fn typo(rng: &mut Rng, word: &str) -> String {
    let mut cs: Vec<char> = word.chars().collect();
    if cs.len() < 5 {
        return word.to_owned();
    }
    let i = 1 + rng.below(cs.len() - 2);
    match rng.below(3) {
        0 => cs.swap(i, i + 1),
        1 => {
            cs.remove(i);
        }
        _ => {
            let repl = *rng.pick(&['a', 'e', 'i', 'o', 'n', 'r', 's', 't']);
            cs[i] = if cs[i] == repl { 'u' } else { repl };
        }
    }
    cs.into_iter().collect()
}

/// Latin transliteration of Cyrillic (what a person types on a Latin keyboard).
fn cyrillic_to_latin(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let lower = c.to_lowercase().next().unwrap_or(c);
        let t = match lower {
            'а' => "a",
            'б' => "b",
            'в' => "v",
            'г' => "g",
            'д' => "d",
            'е' => "e",
            'ё' => "e",
            'ж' => "zh",
            'з' => "z",
            'и' => "i",
            'й' => "y",
            'к' => "k",
            'л' => "l",
            'м' => "m",
            'н' => "n",
            'о' => "o",
            'п' => "p",
            'р' => "r",
            'с' => "s",
            'т' => "t",
            'у' => "u",
            'ф' => "f",
            'х' => "kh",
            'ц' => "ts",
            'ч' => "ch",
            'ш' => "sh",
            'щ' => "shch",
            'ъ' => "",
            'ы' => "y",
            'ь' => "",
            'э' => "e",
            'ю' => "yu",
            'я' => "ya",
            _ => {
                out.push(c);
                continue;
            }
        };
        if c.is_uppercase() {
            let mut it = t.chars();
            if let Some(f) = it.next() {
                out.extend(f.to_uppercase());
                out.push_str(it.as_str());
            }
        } else {
            out.push_str(t);
        }
    }
    out
}

/// A corrupted name query for a person.
pub fn name_query(rng: &mut Rng, p: &Person) -> Query {
    let l = &LOCALES[p.locale];
    let (mut a, mut b) = if l.family_first {
        (p.family.clone(), p.given.clone())
    } else {
        (p.given.clone(), p.family.clone())
    };
    let mut what = Vec::new();
    if rng.chance(0.5) {
        std::mem::swap(&mut a, &mut b);
        what.push("swapped");
    }
    let mut joined = format!("{a} {b}");
    match rng.below(7) {
        0 => {
            joined = joined.to_uppercase();
            what.push("upper case");
        }
        1 => {
            joined = joined.to_lowercase();
            what.push("lower case");
        }
        2 if l.latin => {
            joined = strip_marks(&joined);
            what.push("no diacritics");
        }
        3 if l.latin => {
            let tb = typo(rng, &b);
            joined = format!("{a} {tb}");
            what.push("typo");
        }
        4 => {
            joined = fullwidth(&joined);
            what.push("full-width");
        }
        5 if l.code == "ru" => {
            joined = cyrillic_to_latin(&joined);
            what.push("latin transliteration");
        }
        5 if l.code == "ja" => {
            joined = joined.replace(' ', "");
            what.push("no space");
        }
        6 => {
            joined = format!("  {a}   {b} ");
            what.push("spacing");
        }
        _ => what.push("as stored"),
    }
    Query {
        term: Term::bare(joined).expect("non-empty"),
        region: None,
        corruption: if what.len() > 1 { what[1] } else { what[0] },
    }
}

/// A corrupted email query.
pub fn email_query(rng: &mut Rng, p: &Person) -> Query {
    let e = &p.subject.emails[0];
    let (local, domain) = e.split_once('@').expect("generated emails have @");
    let (t, what) = match rng.below(5) {
        0 => (e.to_uppercase(), "upper case"),
        1 => (format!("{local}+news@{domain}"), "+tag"),
        2 => (format!("  {e} "), "spacing"),
        3 => (format!("{} <{e}>", p.given), "display name"),
        _ => (e.clone(), "as stored"),
    };
    Query {
        term: Term::bare(t).expect("non-empty"),
        region: None,
        corruption: what,
    }
}

/// A corrupted phone query: national or international, any punctuation.
pub fn phone_query(rng: &mut Rng, p: &Person) -> Query {
    let l = &LOCALES[p.locale];
    let nsn = &p.nsn;
    let (t, region, what) = match rng.below(5) {
        0 => (
            format!("{}{}", l.trunk, nsn),
            Some(l.region),
            "national, no spaces",
        ),
        1 => (
            format!("{}{}", l.trunk, group(nsn).replace(' ', ".")),
            Some(l.region),
            "national, dots",
        ),
        2 => (format!("00{} {}", l.cc, nsn), None, "00 prefix"),
        3 => (
            format!("+{}-{}", l.cc, group(nsn).replace(' ', "-")),
            None,
            "international, dashes",
        ),
        _ => (
            format!("(+{}) {}", l.cc, group(nsn)),
            None,
            "international, brackets",
        ),
    };
    Query {
        term: Term::typed(TermType::Phone, t).expect("non-empty"),
        region: region.map(str::to_owned),
        corruption: what,
    }
}

/// A corrupted address query.
pub fn address_query(rng: &mut Rng, p: &Person) -> Query {
    let (street, number, postcode, city) = &p.address;
    let l = &LOCALES[p.locale];
    let abbreviated = street
        .replace("straße", "str.")
        .replace("Straße", "Str.")
        .replace("straat", "str.")
        .replace("avenue", "av.")
        .replace("boulevard", "bd")
        .replace("Avenida", "Avda.")
        .replace("Calle", "C/")
        .replace("Caddesi", "Cad.")
        .replace("Sokak", "Sok.");
    // A typo in the longest word of the street name.
    let misspelt = {
        let longest = street
            .split_whitespace()
            .max_by_key(|w| w.chars().count())
            .unwrap_or("");
        street.replacen(longest, &typo(rng, longest), 1)
    };
    let (t, what) = match rng.below(6) {
        0 if l.code != "ja" => (
            format!("{number} {abbreviated} {postcode} {city}"),
            "abbreviated, reordered",
        ),
        4 if l.latin => (
            format!("{misspelt} {number}, {postcode} {city}"),
            "typo in street",
        ),
        5 if l.code != "ja" => (format!("{street} {number} {city}"), "no postcode"),
        1 => (p.subject.addresses[0].to_uppercase(), "upper case"),
        2 if l.latin => (
            strip_marks(&p.subject.addresses[0]).replace(',', ""),
            "no diacritics or commas",
        ),
        _ => (p.subject.addresses[0].clone(), "as stored"),
    };
    Query {
        term: Term::typed(TermType::Address, t).expect("non-empty"),
        region: None,
        corruption: what,
    }
}

/// A handle query (only for people with a handle).
pub fn handle_query(rng: &mut Rng, p: &Person) -> Option<Query> {
    let h = p.subject.handles.first()?;
    let bare = h.value.trim_start_matches('@');
    let host = match h.platform.as_str() {
        "twitter" => "x.com",
        "instagram" => "instagram.com",
        _ => "facebook.com",
    };
    let (t, what) = match rng.below(3) {
        0 => (
            format!("https://www.{host}/{}", bare.to_uppercase()),
            "profile URL",
        ),
        1 => (format!("{}:@{bare}", h.platform), "platform:@handle"),
        _ => (format!("{host}/{bare}/"), "bare URL"),
    };
    Some(Query {
        term: Term::bare(t).expect("non-empty"),
        region: None,
        corruption: what,
    })
}

/// Query terms for the speed measurements: `count` people drawn from a corpus of `n`
/// (seed `seed`), each asked for by email (upper case), phone (as stored), name (a
/// corrupted form, see [`name_query`]) and address (as stored).
pub struct QuerySet {
    /// Emails, upper-cased.
    pub emails: Vec<String>,
    /// Phones as stored.
    pub phones: Vec<String>,
    /// Names, corrupted as [`name_query`] does.
    pub names: Vec<String>,
    /// Addresses as stored.
    pub addrs: Vec<String>,
}

impl QuerySet {
    /// Draws the query set with its own generator seeded by `draw_seed`.
    pub fn draw(seed: u64, n: u64, count: usize, draw_seed: u64) -> Self {
        let mut rng = Rng::new(draw_seed);
        let people: Vec<Person> = (0..count)
            .map(|_| person(seed, rng.below(n as usize) as u64))
            .collect();
        QuerySet {
            emails: people
                .iter()
                .map(|p| p.subject.emails[0].to_uppercase())
                .collect(),
            phones: people.iter().map(|p| p.subject.phones[0].clone()).collect(),
            names: people
                .iter()
                .map(|p| name_query(&mut rng, p).term.value)
                .collect(),
            addrs: people
                .iter()
                .map(|p| p.subject.addresses[0].clone())
                .collect(),
        }
    }
}

/// Writes one line of a report on standard output. A closed pipe (`report | head`) ends
/// the process quietly with status 141, as a shell tool does on SIGPIPE; any other write
/// error is reported and ends it with status 2. `println!` would panic on both.
pub fn report_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        // Standard error may be closed too: nothing is left to tell.
        let _ = writeln!(std::io::stderr(), "error: writing the report: {e}");
        std::process::exit(2);
    }
}

/// `println!` for reports: see [`report_line`].
#[macro_export]
macro_rules! say {
    () => { $crate::report_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::report_line(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_valid() {
        for i in 0..200 {
            let a = person(7, i);
            let b = person(7, i);
            assert_eq!(a.subject, b.subject);
            a.subject.validate().unwrap();
        }
        let ids: std::collections::HashSet<String> =
            subjects(7, 2000).map(|s| s.phones[0].clone()).collect();
        assert_eq!(ids.len(), 2000, "phone numbers are unique");
    }
}
