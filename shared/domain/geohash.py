"""Geohash (base-32, Niemeyer 2008): stations are indexed by their 5-character cell
(about 4.9 km x 4.9 km) so "stations near me" is a Query on nine cells, never a scan.
"""

from __future__ import annotations

_BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"
_DECODE = {char: index for index, char in enumerate(_BASE32)}
STATION_PRECISION = 5


def encode(lat: float, lng: float, precision: int = STATION_PRECISION) -> str:
    """The geohash of a point; bits alternate longitude then latitude, 5 bits per character.

    Raises:
        ValueError: the point is off the globe or the precision is not 1..12.
    """
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lng <= 180.0:
        raise ValueError("latitude must be within -90..90 and longitude within -180..180")
    if not 1 <= precision <= 12:
        raise ValueError("precision must be 1..12")
    lat_range = [-90.0, 90.0]
    lng_range = [-180.0, 180.0]
    chars: list[str] = []
    is_lng_bit = True
    value = 0
    bits = 0
    while len(chars) < precision:
        interval, point = (lng_range, lng) if is_lng_bit else (lat_range, lat)
        middle = (interval[0] + interval[1]) / 2
        if point >= middle:
            value = (value << 1) | 1
            interval[0] = middle
        else:
            value <<= 1
            interval[1] = middle
        is_lng_bit = not is_lng_bit
        bits += 1
        if bits == 5:
            chars.append(_BASE32[value])
            value = 0
            bits = 0
    return "".join(chars)


def bounds(cell: str) -> tuple[float, float, float, float]:
    """``(lat_min, lat_max, lng_min, lng_max)`` of a cell.

    Raises:
        ValueError: the text is not a geohash.
    """
    if not cell or any(char not in _DECODE for char in cell):
        raise ValueError("not a geohash")
    lat_range = [-90.0, 90.0]
    lng_range = [-180.0, 180.0]
    is_lng_bit = True
    for char in cell:
        index = _DECODE[char]
        for shift in range(4, -1, -1):
            interval = lng_range if is_lng_bit else lat_range
            middle = (interval[0] + interval[1]) / 2
            if (index >> shift) & 1:
                interval[0] = middle
            else:
                interval[1] = middle
            is_lng_bit = not is_lng_bit
    return lat_range[0], lat_range[1], lng_range[0], lng_range[1]


def neighbours(cell: str) -> list[str]:
    """The cell and the (up to) eight cells around it, each once, for a nearby search.

    Raises:
        ValueError: the text is not a geohash.
    """
    lat_min, lat_max, lng_min, lng_max = bounds(cell)
    lat_step = lat_max - lat_min
    lng_step = lng_max - lng_min
    centre_lat = (lat_min + lat_max) / 2
    centre_lng = (lng_min + lng_max) / 2
    cells: list[str] = []
    for d_lat in (-1, 0, 1):
        lat = centre_lat + d_lat * lat_step
        if not -90.0 <= lat <= 90.0:
            continue
        for d_lng in (-1, 0, 1):
            lng = (centre_lng + d_lng * lng_step + 180.0) % 360.0 - 180.0
            neighbour = encode(lat, lng, len(cell))
            if neighbour not in cells:
                cells.append(neighbour)
    return cells
