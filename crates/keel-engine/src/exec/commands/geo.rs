//! Geospatial commands (Redis's geo.c): positions are sorted-set members scored by their 52-bit geohash,
//! so GEOADD is ZADD with computed scores and searches scan the score ranges of the nine cells covering
//! the area. The geohash arithmetic lives in `keel_store::geohash`.

use super::{float_arg, int_arg, is, typed, CmdError, CmdResult, Ctx, SYNTAX};
use keel_store::geohash::{self, Search, Shape};
use keel_store::{Collection, ZSet};

/// Meters in one `unit`.
fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    match arg {
        a if is(a, "m") => Ok(1.0),
        a if is(a, "km") => Ok(1000.0),
        a if is(a, "ft") => Ok(0.3048),
        a if is(a, "mi") => Ok(1609.34),
        _ => Err(CmdError::new("ERR unsupported unit provided. please use M, KM, FT, MI")),
    }
}

/// A longitude and latitude pair, checked against the ranges a geohash covers.
fn lon_lat(longitude: &[u8], latitude: &[u8]) -> Result<(f64, f64), CmdError> {
    let (lon, lat) = (float_arg(longitude)?, float_arg(latitude)?);
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon) || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::new(format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}")));
    }
    Ok((lon, lat))
}

/// A non-negative number with Redis's error text for it (`need numeric radius`).
fn measure(arg: &[u8], what: &str, negative: &str) -> Result<f64, CmdError> {
    let value = float_arg(arg).map_err(|_| CmdError::new(format!("ERR need numeric {what}")))?;
    if value < 0.0 {
        return Err(CmdError::new(format!("ERR {negative} cannot be negative")));
    }
    Ok(value)
}

pub fn geoadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < args.len() {
        match args[first] {
            a if is(a, "nx") => nx = true,
            a if is(a, "xx") => xx = true,
            a if is(a, "ch") => {}
            _ => break,
        }
        first += 1;
    }
    if !(args.len() - first).is_multiple_of(3) || (nx && xx) {
        return Err(SYNTAX);
    }
    let mut scores = Vec::with_capacity((args.len() - first) / 3);
    for triple in args[first..].chunks_exact(3) {
        let (lon, lat) = lon_lat(triple[0], triple[1])?;
        let score = geohash::score_of(lon, lat).unwrap_or_default();
        scores.push((score as u64).to_string());
    }
    // ZADD key [options] score member ..., as Redis runs it.
    let mut zadd: Vec<&[u8]> = Vec::with_capacity(first + scores.len() * 2);
    zadd.push(b"zadd");
    zadd.extend_from_slice(&args[1..first]);
    for (score, triple) in scores.iter().zip(args[first..].chunks_exact(3)) {
        zadd.push(score.as_bytes());
        zadd.push(triple[2]);
    }
    super::zsets::zadd(ctx, &zadd)
}

/// The zset at `key` for reading (WRONGTYPE for other types).
fn read_zset<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c ZSet>, CmdError> {
    ctx.read_typed::<ZSet>(key)
}

pub fn geopos(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let positions: Vec<Option<(f64, f64)>> = {
        let zset = read_zset(ctx, args[1])?;
        args[2..].iter().map(|m| zset.and_then(|z| z.score(m)).and_then(geohash::position_of)).collect()
    };
    ctx.out.array(positions.len());
    for position in positions {
        match position {
            Some((lon, lat)) => {
                ctx.out.array(2);
                ctx.out.double(lon);
                ctx.out.double(lat);
            }
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

pub fn geohash_cmd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let hashes: Vec<Option<String>> = {
        let zset = read_zset(ctx, args[1])?;
        args[2..].iter().map(|m| zset.and_then(|z| z.score(m)).and_then(geohash::geohash_string)).collect()
    };
    ctx.out.array(hashes.len());
    for hash in hashes {
        match hash {
            Some(h) => ctx.out.bulk(h.as_bytes()),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

pub fn geodist(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let to_meters = match args.len() {
        4 => 1.0,
        5 => unit(args[4])?,
        _ => return Err(SYNTAX),
    };
    let distance = {
        let Some(zset) = read_zset(ctx, args[1])? else {
            ctx.out.null();
            return Ok(());
        };
        let a = zset.score(args[2]).and_then(geohash::position_of);
        let b = zset.score(args[3]).and_then(geohash::position_of);
        a.zip(b).map(|((lon1, lat1), (lon2, lat2))| geohash::distance(lon1, lat1, lon2, lat2) / to_meters)
    };
    match distance {
        Some(d) => ctx.out.bulk(geohash::format_distance(d).as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Which search command runs, and so which arguments it takes.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// GEORADIUS key lon lat radius unit ...
    Radius { read_only: bool },
    /// GEORADIUSBYMEMBER key member radius unit ...
    RadiusByMember { read_only: bool },
    /// GEOSEARCH key FROMMEMBER|FROMLONLAT BYRADIUS|BYBOX ...
    Search,
    /// GEOSEARCHSTORE dest key ... [STOREDIST]
    SearchStore,
}

impl Variant {
    fn is_search(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }

    fn may_store(self) -> bool {
        matches!(self, Variant::Radius { read_only: false } | Variant::RadiusByMember { read_only: false })
    }
}

#[derive(Default)]
struct SearchOptions<'a> {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    /// Some(true) for ASC, Some(false) for DESC.
    ascending: Option<bool>,
    count: usize,
    store: Option<&'a [u8]>,
    store_dist: bool,
    /// Where the search is centred (longitude, latitude), and its shape with the unit's meters.
    centre: Option<(f64, f64)>,
    shape: Option<(Shape, f64)>,
    /// Which of GEOSEARCH's FROMMEMBER/FROMLONLAT and BYRADIUS/BYBOX were given.
    from_member: bool,
    from_lonlat: bool,
    by_radius: bool,
    by_box: bool,
}

pub fn georadius(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search(ctx, args, Variant::Radius { read_only: false })
}

pub fn georadius_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search(ctx, args, Variant::Radius { read_only: true })
}

pub fn georadiusbymember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search(ctx, args, Variant::RadiusByMember { read_only: false })
}

pub fn georadiusbymember_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search(ctx, args, Variant::RadiusByMember { read_only: true })
}

pub fn geosearch(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search(ctx, args, Variant::Search)
}

pub fn geosearchstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search(ctx, args, Variant::SearchStore)
}

/// The member's position in the zset, or Redis's error.
fn member_position(zset: Option<&ZSet>, member: &[u8]) -> Result<(f64, f64), CmdError> {
    zset.and_then(|z| z.score(member))
        .and_then(geohash::position_of)
        .ok_or_else(|| CmdError::new("ERR could not decode requested zset member"))
}

/// The sorted set at `slot` of database `db` (type-checked by the caller).
fn zset_at<'c>(ctx: &'c Ctx, db: usize, slot: Option<usize>) -> Option<&'c ZSet> {
    slot.and_then(|s| <ZSet as Collection>::of(ctx.ks.dbs[db].value(s)))
}

/// One search result: member, distance in meters, score and position.
struct Found {
    member: Vec<u8>,
    distance: f64,
    score: f64,
    position: (f64, f64),
}

/// Redis's georadiusGeneric: every search command, parsed as Redis parses it, errors in its order.
fn search(ctx: &mut Ctx, args: &[&[u8]], variant: Variant) -> CmdResult {
    let source = if variant == Variant::SearchStore { args[2] } else { args[1] };
    let mut opts = SearchOptions::default();
    if variant == Variant::SearchStore {
        opts.store = Some(args[1]);
    }
    let db = ctx.session.db;
    let slot = ctx.lookup_read(source);
    if let Some(slot) = slot {
        typed::<ZSet>(ctx.ks.dbs[db].value(slot))?;
    }
    let has_source = |ctx: &Ctx| zset_at(ctx, db, slot).is_some();
    let base = match variant {
        Variant::Radius { .. } => {
            opts.centre = Some(lon_lat(args[2], args[3])?);
            let radius = measure(args[4], "radius", "radius")?;
            opts.shape = Some((Shape::Radius(radius), unit(args[5])?));
            6
        }
        Variant::RadiusByMember { .. } => {
            if has_source(ctx) {
                opts.centre = Some(member_position(zset_at(ctx, db, slot), args[2])?);
                let radius = measure(args[3], "radius", "radius")?;
                opts.shape = Some((Shape::Radius(radius), unit(args[4])?));
            }
            5
        }
        Variant::Search => 2,
        Variant::SearchStore => 3,
    };
    parse_options(zset_at(ctx, db, slot), &args[base..], variant, &mut opts)?;
    check_combination(args[0], variant, &opts)?;
    let (Some((longitude, latitude)), Some((shape, conversion)), true) = (opts.centre, opts.shape, has_source(ctx))
    else {
        // No source key.
        return store_or_reply(ctx, &opts, Vec::new(), 1.0, store_event(variant));
    };
    // COUNT picks the nearest: sort ascending unless told otherwise (ANY takes the first found).
    if opts.count != 0 && opts.ascending.is_none() && !opts.any {
        opts.ascending = Some(true);
    }
    let area = Search { longitude, latitude, shape, conversion };
    let limit = if opts.any { opts.count } else { 0 };
    let mut found = zset_at(ctx, db, slot).map_or_else(Vec::new, |zset| members_within(zset, &area, limit));
    if let Some(ascending) = opts.ascending {
        found.sort_by(|a, b| {
            let order = a.distance.partial_cmp(&b.distance).unwrap_or(std::cmp::Ordering::Equal);
            if ascending {
                order
            } else {
                order.reverse()
            }
        });
    }
    if opts.count != 0 {
        found.truncate(opts.count);
    }
    store_or_reply(ctx, &opts, found, conversion, store_event(variant))
}

/// The options after the fixed arguments (`args` starts there), into `opts`; `source` is the sorted set
/// searched, for FROMMEMBER.
fn parse_options<'a>(
    source: Option<&ZSet>,
    args: &[&'a [u8]],
    variant: Variant,
    opts: &mut SearchOptions<'a>,
) -> CmdResult {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        let left = args.len() - i - 1;
        if is(arg, "withdist") {
            opts.with_dist = true;
        } else if is(arg, "withhash") {
            opts.with_hash = true;
        } else if is(arg, "withcoord") {
            opts.with_coord = true;
        } else if is(arg, "any") {
            opts.any = true;
        } else if is(arg, "asc") {
            opts.ascending = Some(true);
        } else if is(arg, "desc") {
            opts.ascending = Some(false);
        } else if is(arg, "count") && left >= 1 {
            let count = int_arg(args[i + 1])?;
            if count <= 0 {
                return Err(CmdError::new("ERR COUNT must be > 0"));
            }
            opts.count = count as usize;
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist")) && left >= 1 && variant.may_store() {
            opts.store = Some(args[i + 1]);
            opts.store_dist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && variant == Variant::SearchStore {
            opts.store_dist = true;
        } else if is(arg, "frommember") && left >= 1 && variant.is_search() && !opts.from_lonlat {
            if source.is_some() {
                opts.centre = Some(member_position(source, args[i + 1])?);
            }
            opts.from_member = true;
            i += 1;
        } else if is(arg, "fromlonlat") && left >= 2 && variant.is_search() && !opts.from_member {
            opts.centre = Some(lon_lat(args[i + 1], args[i + 2])?);
            opts.from_lonlat = true;
            i += 2;
        } else if is(arg, "byradius") && left >= 2 && variant.is_search() && !opts.by_box {
            let radius = measure(args[i + 1], "radius", "radius")?;
            opts.shape = Some((Shape::Radius(radius), unit(args[i + 2])?));
            opts.by_radius = true;
            i += 2;
        } else if is(arg, "bybox") && left >= 3 && variant.is_search() && !opts.by_radius {
            let width = measure(args[i + 1], "width", "height or width")?;
            let height = measure(args[i + 2], "height", "height or width")?;
            opts.shape = Some((Shape::Box { width, height }, unit(args[i + 3])?));
            opts.by_box = true;
            i += 3;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    Ok(())
}

/// The option combinations Redis refuses, with its errors: STORE with WITH* options, a GEOSEARCH without
/// its centre or its shape, ANY without COUNT.
fn check_combination(name: &[u8], variant: Variant, opts: &SearchOptions) -> CmdResult {
    let (centred, shaped) = (opts.from_member || opts.from_lonlat, opts.by_radius || opts.by_box);
    if opts.store.is_some() && (opts.with_dist || opts.with_hash || opts.with_coord) {
        let what = if variant == Variant::SearchStore { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(CmdError::new(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(name);
    if variant.is_search() && !centred {
        return Err(CmdError::new(format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")));
    }
    if variant.is_search() && !shaped {
        return Err(CmdError::new(format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")));
    }
    if opts.any && opts.count == 0 {
        return Err(CmdError::new("ERR the ANY argument requires COUNT argument"));
    }
    Ok(())
}

/// The members inside `area`: the geohash cells that cover it, each a range of scores, filtered by exact
/// distance; at most `limit` of them (0: all), in the order found.
fn members_within(zset: &ZSet, area: &Search, limit: usize) -> Vec<Found> {
    let mut found = Vec::new();
    for cell in area.cells() {
        if limit != 0 && found.len() >= limit {
            break;
        }
        let (min, max) = cell.score_range();
        let mut rank = zset.count_before(|score, _| score < min);
        while rank < zset.len() {
            let (member, score) = zset.at_rank(rank);
            if score >= max {
                break;
            }
            if let Some((lon, lat)) = geohash::position_of(score) {
                if let Some(distance) = area.distance_if_within(lon, lat) {
                    found.push(Found { member: member.to_vec(), distance, score, position: (lon, lat) });
                }
            }
            if limit != 0 && found.len() >= limit {
                break;
            }
            rank += 1;
        }
    }
    found
}

/// The event a stored search publishes: GEOSEARCHSTORE's own, or GEORADIUS's older name for it.
fn store_event(variant: Variant) -> &'static str {
    if variant == Variant::SearchStore {
        "geosearchstore"
    } else {
        "georadiusstore"
    }
}

/// Replies with the results, or stores them as a sorted set (scores or distances) and replies with their
/// number.
fn store_or_reply(ctx: &mut Ctx, opts: &SearchOptions, found: Vec<Found>, conversion: f64, event: &str) -> CmdResult {
    let Some(dest) = opts.store else {
        let extras = opts.with_dist as usize + opts.with_hash as usize + opts.with_coord as usize;
        ctx.out.array(found.len());
        for f in &found {
            if extras > 0 {
                ctx.out.array(extras + 1);
            }
            ctx.out.bulk(&f.member);
            if opts.with_dist {
                ctx.out.bulk(geohash::format_distance(f.distance / conversion).as_bytes());
            }
            if opts.with_hash {
                ctx.out.int(f.score as i64);
            }
            if opts.with_coord {
                ctx.out.array(2);
                ctx.out.double(f.position.0);
                ctx.out.double(f.position.1);
            }
        }
        return Ok(());
    };
    // Scores are the geohashes, or the distances in the search's unit with STOREDIST.
    let items = found
        .into_iter()
        .map(|f| {
            let score = if opts.store_dist { f.distance / conversion } else { f.score };
            (f.member, score)
        })
        .collect();
    super::zset_ops::store_scored(ctx, dest, items, event)
}
