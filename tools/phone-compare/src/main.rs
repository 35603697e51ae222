//! dsr-match's phone keys against rlibphonenumber, region by region (see Cargo.toml).
//! Prints a Markdown report: agreement on the E.164 form of valid numbers written
//! nationally and internationally, impossible numbers each side accepts, and the time
//! per number of each.

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, PhoneNumberType};
use std::collections::BTreeMap;
use std::time::Instant;

const TYPES: [PhoneNumberType; 8] = [
    PhoneNumberType::FixedLine,
    PhoneNumberType::Mobile,
    PhoneNumberType::TollFree,
    PhoneNumberType::PremiumRate,
    PhoneNumberType::SharedCost,
    PhoneNumberType::VoIP,
    PhoneNumberType::PersonalNumber,
    PhoneNumberType::UAN,
];

#[derive(Default)]
struct Tally {
    numbers: usize,
    national_ok: usize,
    intl_ok: usize,
    national_placed: usize,
    impossible: usize,
    impossible_flagged_lib: usize,
    impossible_keyed_dsr: usize,
}

fn ours(text: &str, region: &str) -> Option<String> {
    let r = dsr_match::normalize::parse_region(region).ok();
    let keys = dsr_match::normalize::phone_keys(text, r).ok()?;
    keys.into_iter()
        .find(|k| k.kind == dsr_match::normalize::KeyKind::PhoneE164)
        .map(|k| k.text)
}

fn main() {
    let util = &*PHONE_NUMBER_UTIL;
    let mut by_region: BTreeMap<String, Tally> = BTreeMap::new();
    let mut corpus: Vec<(String, String, String)> = Vec::new(); // (text, region, e164)
    let mut impossible: Vec<(String, String)> = Vec::new();
    for region in util.get_supported_regions() {
        let code = region.to_string();
        let types = util
            .get_supported_types_for_region(region)
            .unwrap_or_default();
        for ty in TYPES.iter().filter(|t| types.contains(t)) {
            let Ok(n) = util.get_example_number_for_type_and_region(region, *ty) else {
                continue;
            };
            let e164 = n.format_as(PhoneNumberFormat::E164).to_string();
            let national = n.format_as(PhoneNumberFormat::National).to_string();
            let intl = n.format_as(PhoneNumberFormat::International).to_string();
            corpus.push((national.clone(), code.clone(), e164.clone()));
            corpus.push((intl.clone(), code.clone(), e164.clone()));
            let t = by_region.entry(code.clone()).or_default();
            t.numbers += 1;
            let got_nat = ours(&national, &code);
            if got_nat.is_some() {
                t.national_placed += 1;
            }
            if got_nat.as_deref() == Some(e164.as_str()) {
                t.national_ok += 1;
            }
            if ours(&intl, &code).as_deref() == Some(e164.as_str()) {
                t.intl_ok += 1;
            }
            // Impossible numbers: the valid one with a digit added, and with one taken off.
            for wrong in [format!("{e164}0"), e164[..e164.len() - 1].to_owned()] {
                t.impossible += 1;
                let lib_valid = util
                    .parse(&wrong, Some(region))
                    .map(|p| p.is_valid())
                    .unwrap_or(false);
                if !lib_valid {
                    t.impossible_flagged_lib += 1;
                    if ours(&wrong, &code).is_some() {
                        t.impossible_keyed_dsr += 1;
                    }
                    impossible.push((wrong, code.clone()));
                }
            }
        }
    }

    // Time per number, the whole corpus several times over, each side alone.
    let rounds = 20;
    let t = Instant::now();
    let mut sink = 0usize;
    for _ in 0..rounds {
        for (text, region, _) in &corpus {
            sink += ours(text, region).map_or(0, |s| s.len());
        }
    }
    let dsr_ns = t.elapsed().as_nanos() as f64 / (rounds * corpus.len()) as f64;
    let regions: Vec<_> = util.get_supported_regions().collect();
    let region_of: BTreeMap<String, _> = regions.iter().map(|r| (r.to_string(), *r)).collect();
    let t = Instant::now();
    for _ in 0..rounds {
        for (text, region, _) in &corpus {
            if let Ok(p) = util.parse(text, region_of.get(region).copied()) {
                sink += p.format_as(PhoneNumberFormat::E164).len();
            }
        }
    }
    let lib_ns = t.elapsed().as_nanos() as f64 / (rounds * corpus.len()) as f64;
    let t = Instant::now();
    for _ in 0..rounds {
        for (text, region, _) in &corpus {
            if let Ok(p) = util.parse(text, region_of.get(region).copied()) {
                sink += usize::from(p.is_valid());
            }
        }
    }
    let lib_valid_ns = t.elapsed().as_nanos() as f64 / (rounds * corpus.len()) as f64;

    let sum = |f: &dyn Fn(&Tally) -> usize| by_region.values().map(f).sum::<usize>();
    let numbers = sum(&|t| t.numbers);
    let pct = |a: usize, b: usize| {
        if b == 0 {
            100.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!(
        "# Phone numbers: dsr-match against rlibphonenumber 2.2.15 (libphonenumber metadata v9)\n"
    );
    println!(
        "Corpus: the library's example number of every type (fixed line, mobile, toll-free, premium, shared cost, VoIP, personal, UAN) of every one of its {} regions: {numbers} numbers, each written in national form (with the region as default) and international form; the truth is the library's E.164. Impossible numbers: each valid one with a digit added and one removed, kept when the library says it cannot exist.\n",
        by_region.len()
    );
    println!("| | result |\n|---|---:|");
    println!(
        "| national form → same E.164 | {:.1} % ({} / {numbers}) |",
        pct(sum(&|t| t.national_ok), numbers),
        sum(&|t| t.national_ok)
    );
    println!(
        "| national form placed at all (any E.164 key) | {:.1} % |",
        pct(sum(&|t| t.national_placed), numbers)
    );
    println!(
        "| international form → same E.164 | {:.1} % ({} / {numbers}) |",
        pct(sum(&|t| t.intl_ok), numbers),
        sum(&|t| t.intl_ok)
    );
    let imp = sum(&|t| t.impossible_flagged_lib);
    println!("| impossible numbers (library: cannot exist) | {imp} |");
    println!(
        "| … that dsr-match keys as a number anyway | {:.1} % ({}) |",
        pct(sum(&|t| t.impossible_keyed_dsr), imp),
        sum(&|t| t.impossible_keyed_dsr)
    );
    println!("| time per number: dsr-match keys | {dsr_ns:.0} ns |");
    println!("| time per number: library parse + E.164 | {lib_ns:.0} ns |");
    println!("| time per number: library parse + validity | {lib_valid_ns:.0} ns |");
    println!("\nRegions where the national form does not give the library's E.164:\n");
    println!("| region | numbers | national ok | international ok |\n|---|---:|---:|---:|");
    for (r, t) in &by_region {
        if t.national_ok < t.numbers || t.intl_ok < t.numbers {
            println!(
                "| {r} | {} | {} | {} |",
                t.numbers, t.national_ok, t.intl_ok
            );
        }
    }
    eprintln!("(checksum {sink})");
}
