"""The long-horizon benchmark's data sets: where each file comes from, how to read it, and how it is split.

Every record is plain data, so ``forecast.datasets.info(name)`` can be printed, compared and written
into a config. The split preset is in the config form that ``--data.split`` and a YAML's
``data.split`` take (``class_path`` + ``init_args``).

The headerless ``.txt.gz`` files of Lai et al. carry no times. The loader stamps their rows as the
literature's CSVs do (the Autoformer bundle that TSLib, PatchTST, iTransformer, SegRNN and CycleNet
read): exchange rates daily from 1990-01-01, electricity and traffic hourly from 2016-07-01 02:00.
These stamps are placeholders that keep time features comparable with published runs, not the
times of measurement (electricity 2012-2014, traffic 2015-2016, exchange rates business days).
Solar energy has no stamp in the literature (TSLib feeds it without time features); it gets the
year the data describe, 2006, every 10 minutes.
"""

from dataclasses import dataclass

__all__ = ["Dataset", "DATASETS", "ETT_SPLIT_HOURLY", "ETT_SPLIT_15MIN", "FRACTION_SPLIT"]

ETT_SPLIT_HOURLY = {"class_path": "forecast.data.ETTSplit", "init_args": {"rows_per_hour": 1}}
ETT_SPLIT_15MIN = {"class_path": "forecast.data.ETTSplit", "init_args": {"rows_per_hour": 4}}
FRACTION_SPLIT = {"class_path": "forecast.data.FractionSplit", "init_args": {"val": 0.1, "test": 0.2}}

_ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/"
_LAI_URL = "https://raw.githubusercontent.com/laiguokun/multivariate-time-series-data/master/"
_ETT_LICENCE = "CC BY-ND 4.0 (https://creativecommons.org/licenses/by-nd/4.0/)"
_ETT_CITATION = (
    'Zhou, Zhang, Peng, Zhang, Li, Xiong and Zhang, "Informer: Beyond Efficient Transformer for Long '
    'Sequence Time-Series Forecasting", AAAI 2021'
)
_LAI_CITATION = (
    'Lai, Chang, Yang and Liu, "Modeling Long- and Short-Term Temporal Patterns with Deep Neural Networks", SIGIR 2018'
)
_UCI_ELECTRICITY = "UCI ElectricityLoadDiagrams20112014, CC BY 4.0"
_NREL_SOLAR = "NREL Solar Power Data for Integration Studies (Alabama, 2006)"
_EXCHANGE = "daily rates of eight currencies, origin not stated"
_AUTOFORMER_CITATION = (
    'Wu, Xu, Wang and Long, "Autoformer: Decomposition Transformers with Auto-Correlation for '
    'Long-Term Series Forecasting", NeurIPS 2021 (the CSV bundle of the long-horizon literature)'
)


@dataclass(frozen=True)
class Dataset:
    """One data set of the benchmark: its source, its file in the cache, its times and its split.

    Args:
        name: the name that ``load`` and ``--data.source`` take, lower case.
        file: the file's name in the cache folder (the upstream name).
        url: where the file is downloaded from; ``None`` when no stable single-file source exists
            and the file must be put into the cache by hand.
        sha256: the file's sha256 as this project recorded it; ``None`` means the hash is recorded
            beside the file at its first download and checked on every later load.
        freq: the pandas frequency of the rows.
        split: the split preset, as ``data.split`` takes it.
        licence: the licence the source states (or that it states none).
        citation: the paper to credit.
        start: the time of the first row for a file without a time column; ``None`` for a CSV whose
            first column holds the times.
    """

    name: str
    file: str
    url: str | None
    sha256: str | None
    freq: str
    split: dict
    licence: str
    citation: str
    start: str | None = None


def _ett(name: str, file: str, sha256: str | None, freq: str, split: dict) -> Dataset:
    return Dataset(name, file, _ETT_URL + file, sha256, freq, split, _ETT_LICENCE, _ETT_CITATION)


def _lai(name: str, path: str, sha256: str | None, freq: str, start: str, source: str) -> Dataset:
    licence = f"none stated by github.com/laiguokun/multivariate-time-series-data; source data: {source}"
    return Dataset(
        name, path.rsplit("/", 1)[1], _LAI_URL + path, sha256, freq, FRACTION_SPLIT, licence, _LAI_CITATION, start
    )


def _by_hand(name: str, file: str, freq: str, source: str) -> Dataset:
    licence = f"none stated by the CSV bundle; source data: {source}"
    return Dataset(name, file, None, None, freq, FRACTION_SPLIT, licence, _AUTOFORMER_CITATION)


_ETTH1_SHA256 = "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"  # benchmarks/README.md
_ETTH2_SHA256 = "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b"
_EXCHANGE_SHA256 = "6a4fbb561dcdee43f071a83badbeec9223a335552278348656738b556f1c2e9d"

DATASETS = {
    dataset.name: dataset
    for dataset in [
        _ett("etth1", "ETTh1.csv", _ETTH1_SHA256, "h", ETT_SPLIT_HOURLY),
        _ett("etth2", "ETTh2.csv", _ETTH2_SHA256, "h", ETT_SPLIT_HOURLY),
        _ett("ettm1", "ETTm1.csv", None, "15min", ETT_SPLIT_15MIN),
        _ett("ettm2", "ETTm2.csv", None, "15min", ETT_SPLIT_15MIN),
        _lai("exchange_rate", "exchange_rate/exchange_rate.txt.gz", _EXCHANGE_SHA256, "D", "1990-01-01", _EXCHANGE),
        _lai("electricity", "electricity/electricity.txt.gz", None, "h", "2016-07-01 02:00", _UCI_ELECTRICITY),
        _lai("traffic", "traffic/traffic.txt.gz", None, "h", "2016-07-01 02:00", "Caltrans PeMS (pems.dot.ca.gov)"),
        _lai("solar", "solar-energy/solar_AL.txt.gz", None, "10min", "2006-01-01", _NREL_SOLAR),
        _by_hand("weather", "weather.csv", "10min", "weather station of the Max Planck Institute for Biogeochemistry"),
        _by_hand("illness", "national_illness.csv", "W-TUE", "CDC ILINet (influenza-like illness, weekly)"),
    ]
}
