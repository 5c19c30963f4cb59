//! Redis's 52-bit geohash (geohash.c and geohash_helper.c): coordinates interleaved into a sorted-set
//! score, the nine cells that cover a search area, haversine distances on Redis's Earth radius, and the
//! standard base-32 geohash string. Ported operation for operation so that scores, positions and distances
//! equal Redis's to the last digit.

pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// 26 steps of 2 bits: 52 bits, exact in a double score.
pub const STEP_MAX: u8 = 26;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A cell: `step` bits of longitude and latitude interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub bits: u64,
    pub step: u8,
}

impl Cell {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The scores `[min, max)` of the members inside this cell.
    pub fn score_range(&self) -> (f64, f64) {
        let align = |bits: u64| (bits << (52 - self.step as u32 * 2)) as f64;
        (align(self.bits), align(self.bits + 1))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Area {
    long_min: f64,
    long_max: f64,
    lat_min: f64,
    lat_max: f64,
}

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] =
        [0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (xlo as u64, ylo as u64);
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// Encodes a position within the given ranges (Redis's geohashEncode); None outside them.
fn encode_in(long_range: (f64, f64), lat_range: (f64, f64), longitude: f64, latitude: f64, step: u8) -> Option<Cell> {
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.0 || latitude > lat_range.1 || longitude < long_range.0 || longitude > long_range.1 {
        return None;
    }
    let lat_offset = (latitude - lat_range.0) / (lat_range.1 - lat_range.0) * (1u64 << step) as f64;
    let long_offset = (longitude - long_range.0) / (long_range.1 - long_range.0) * (1u64 << step) as f64;
    Some(Cell { bits: interleave64(lat_offset as u32, long_offset as u32), step })
}

/// Encodes a position at `step` on Redis's coordinate ranges.
pub fn encode(longitude: f64, latitude: f64, step: u8) -> Option<Cell> {
    encode_in((LONG_MIN, LONG_MAX), (LAT_MIN, LAT_MAX), longitude, latitude, step)
}

/// The sorted-set score of a position (GEOADD).
pub fn score_of(longitude: f64, latitude: f64) -> Option<f64> {
    encode(longitude, latitude, STEP_MAX).map(|cell| cell.score_range().0)
}

fn decode(cell: Cell) -> Option<Area> {
    if cell.is_zero() {
        return None;
    }
    let separated = deinterleave64(cell.bits);
    let lat_scale = LAT_MAX - LAT_MIN;
    let long_scale = LONG_MAX - LONG_MIN;
    let ilato = separated as u32;
    let ilono = (separated >> 32) as u32;
    let cells = (1u64 << cell.step) as f64;
    Some(Area {
        lat_min: LAT_MIN + (ilato as f64 / cells) * lat_scale,
        lat_max: LAT_MIN + ((ilato as f64 + 1.0) / cells) * lat_scale,
        long_min: LONG_MIN + (ilono as f64 / cells) * long_scale,
        long_max: LONG_MIN + ((ilono as f64 + 1.0) / cells) * long_scale,
    })
}

/// The position a score stands for: the centre of its cell, as (longitude, latitude).
pub fn position_of(score: f64) -> Option<(f64, f64)> {
    let area = decode(Cell { bits: score as u64, step: STEP_MAX })?;
    let longitude = ((area.long_min + area.long_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let latitude = ((area.lat_min + area.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((longitude, latitude))
}

/// The 11-character base-32 geohash of a score (GEOHASH), on the standard ±90° latitude range.
pub fn geohash_string(score: f64) -> Option<String> {
    const ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (longitude, latitude) = position_of(score)?;
    let cell = encode_in((-180.0, 180.0), (-90.0, 90.0), longitude, latitude, STEP_MAX)?;
    Some(
        (0..11)
            .map(|i| {
                let index = if i == 10 { 0 } else { (cell.bits >> (52 - (i + 1) * 5)) & 0x1f };
                ALPHABET[index as usize] as char
            })
            .collect(),
    )
}

fn deg_rad(angle: f64) -> f64 {
    angle * D_R
}

fn rad_deg(angle: f64) -> f64 {
    angle / D_R
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// The haversine distance in meters between two positions (Redis's geohashGetDistance).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lon1r, lon2r) = (deg_rad(lon1), deg_rad(lon2));
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// What a search covers around its centre, in the unit the client gave.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search: its centre (longitude, latitude), shape, and the meters in one unit of the shape. The
/// conversion is applied where Redis applies it, so that rounding matches.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub longitude: f64,
    pub latitude: f64,
    pub shape: Shape,
    pub conversion: f64,
}

impl Search {
    /// The distance from the centre to a point when the point is inside the shape.
    pub fn distance_if_within(&self, longitude: f64, latitude: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(radius) => {
                let d = distance(self.longitude, self.latitude, longitude, latitude);
                (d <= radius * self.conversion).then_some(d)
            }
            Shape::Box { width, height } => {
                let (width, height) = (width * self.conversion, height * self.conversion);
                if lat_distance(latitude, self.latitude) > height / 2.0 {
                    return None;
                }
                if distance(longitude, latitude, self.longitude, latitude) > width / 2.0 {
                    return None;
                }
                Some(distance(self.longitude, self.latitude, longitude, latitude))
            }
        }
    }

    /// Redis's geohashBoundingBox: [min longitude, min latitude, max longitude, max latitude].
    fn bounding_box(&self) -> [f64; 4] {
        let (height, width) = match self.shape {
            Shape::Radius(r) => (self.conversion * r, self.conversion * r),
            Shape::Box { width, height } => (self.conversion * (height / 2.0), self.conversion * (width / 2.0)),
        };
        let (longitude, latitude) = (self.longitude, self.latitude);
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
        let long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
        let southern = latitude < 0.0;
        let long_delta = if southern { long_delta_bottom } else { long_delta_top };
        [longitude - long_delta, latitude - lat_delta, longitude + long_delta, latitude + lat_delta]
    }

    /// The cells to scan, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW), without those Redis
    /// excludes as useless (geohashCalculateAreasByShapeWGS84).
    pub fn cells(&self) -> Vec<Cell> {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
        } * self.conversion;
        let mut step = estimate_steps(radius, self.latitude);
        let zero = Cell { bits: 0, step: 0 };
        let mut centre = encode(self.longitude, self.latitude, step).unwrap_or(zero);
        let mut n = neighbours(centre);
        let area_of = |c: Cell| decode(c).unwrap_or_default();
        let decrease = area_of(n[0]).lat_max < max_lat
            || area_of(n[1]).lat_min > min_lat
            || area_of(n[2]).long_max < max_lon
            || area_of(n[3]).long_min > min_lon;
        if step > 1 && decrease {
            step -= 1;
            centre = encode(self.longitude, self.latitude, step).unwrap_or(zero);
            n = neighbours(centre);
        }
        let area = area_of(centre);
        // n: north, south, east, west, north_east, north_west, south_east, south_west.
        if step >= 2 {
            if area.lat_min < min_lat {
                [1, 7, 6].iter().for_each(|&i| n[i] = zero);
            }
            if area.lat_max > max_lat {
                [0, 4, 5].iter().for_each(|&i| n[i] = zero);
            }
            if area.long_min < min_lon {
                [3, 7, 5].iter().for_each(|&i| n[i] = zero);
            }
            if area.long_max > max_lon {
                [2, 6, 4].iter().for_each(|&i| n[i] = zero);
            }
        }
        let all = [centre, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]];
        // Huge areas make adjacent neighbours equal: one equal to the neighbour scanned just before is
        // skipped (Redis's check, which never compares with the centre).
        let mut cells: Vec<Cell> = Vec::with_capacity(9);
        let mut last_processed = 0;
        for (i, cell) in all.into_iter().enumerate() {
            if cell.is_zero() || (last_processed != 0 && all[last_processed] == cell) {
                continue;
            }
            cells.push(cell);
            last_processed = i;
        }
        cells
    }
}

fn estimate_steps(mut range_meters: f64, latitude: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&latitude) {
        step -= 1;
        if !(-80.0..=80.0).contains(&latitude) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// Interleaved bits of longitude (x, the odd bits) and latitude (y, the even bits).
const X_BITS: u64 = 0xaaaaaaaaaaaaaaaa;
const Y_BITS: u64 = 0x5555555555555555;

/// Moves `cell` one step along the axis whose bits are `axis` (`other` are the other axis's): Redis's
/// geohash_move_x/geohash_move_y, which add or subtract one in the interleaved bits by filling the other
/// axis's positions so that carries run through them.
fn move_along(cell: &mut Cell, d: i8, axis: u64, other: u64) {
    if d == 0 {
        return;
    }
    let shift = 64 - cell.step as u32 * 2;
    let mut v = cell.bits & axis;
    let kept = cell.bits & other;
    let zz = other >> shift;
    if d > 0 {
        v = v.wrapping_add(zz + 1);
    } else {
        v |= zz;
        v = v.wrapping_sub(zz + 1);
    }
    v &= axis >> shift;
    cell.bits = v | kept;
}

/// The eight neighbours: north, south, east, west, north-east, north-west, south-east, south-west.
fn neighbours(cell: Cell) -> [Cell; 8] {
    let moved = |dx: i8, dy: i8| {
        let mut c = cell;
        move_along(&mut c, dx, X_BITS, Y_BITS);
        move_along(&mut c, dy, Y_BITS, X_BITS);
        c
    };
    [moved(0, 1), moved(0, -1), moved(1, 0), moved(-1, 0), moved(1, 1), moved(-1, 1), moved(1, -1), moved(-1, -1)]
}

/// A distance with four decimals, rounded half to even as Redis's fixedpoint_d2string does.
pub fn format_distance(d: f64) -> String {
    let scaled = (d * 10000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let magnitude = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", magnitude / 10000, magnitude % 10000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_and_catania_as_in_redis_s_documentation() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" 15.087269 37.502669 "Catania"
        let palermo = score_of(13.361389, 38.115556).unwrap();
        let catania = score_of(15.087269, 37.502669).unwrap();
        assert_eq!(palermo, 3479099956230698.0);
        assert_eq!(catania, 3479447370796909.0);
        let (lon, lat) = position_of(palermo).unwrap();
        assert_eq!((lon, lat), (13.361389338970184, 38.1155563954963));
        let (clon, clat) = position_of(catania).unwrap();
        assert_eq!(format_distance(distance(lon, lat, clon, clat)), "166274.1516");
        assert_eq!(format_distance(distance(lon, lat, clon, clat) / 1000.0), "166.2742");
        assert_eq!(geohash_string(palermo).unwrap(), "sqc8b49rny0");
        assert_eq!(geohash_string(catania).unwrap(), "sqdtr74hyu0");
    }

    #[test]
    fn positions_outside_redis_s_ranges_are_refused() {
        assert!(score_of(181.0, 0.0).is_none());
        assert!(score_of(0.0, 86.0).is_none());
        assert!(score_of(-180.0, -85.05112878).is_some());
    }

    #[test]
    fn a_search_covers_its_centre_cell_first() {
        let search = Search { longitude: 15.0, latitude: 37.0, shape: Shape::Radius(200.0), conversion: 1000.0 };
        let cells = search.cells();
        assert!(!cells.is_empty() && cells.len() <= 9);
        let (min, max) = cells[0].score_range();
        let centre = score_of(15.0, 37.0).unwrap();
        assert!(min <= centre && centre < max);
    }
}
