"""The public data a genome-wide run needs: manifests shipped with the package, and a fetcher.

``deepwas data list | fetch NAME | verify DIR`` on the command line; from Python::

    from deepwas.public_data import fetch, list_datasets, load_manifest, verify

    print(list_datasets())            # baselineld-v2.2, deepwas-tracks, ldgm-1000g, ...
    report = fetch("ukbb-ld", "data", chromosomes=["22"])
    print(report.line())
    print(verify("data").line())      # ok / missing / changed per file

Every file is checked against a checksum (the manifest's, the one its source publishes, or the
sha256 of its first download), written under a temporary name and renamed, and an interrupted
transfer is resumed with HTTP range requests (:mod:`deepwas.public_data.transfer` says why
pooch alone does not). No code of the package downloads anything unless asked to here.
"""
from .fetch import FetchError, FetchReport, check_report, fetch
from .manifest import Manifest, list_datasets, load_manifest
from .record import RECORD_NAME, VerifyReport, verify

__all__ = ["fetch", "verify", "list_datasets", "load_manifest", "Manifest", "FetchReport",
           "VerifyReport", "FetchError", "check_report", "RECORD_NAME"]
