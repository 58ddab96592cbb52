"""schwab-py, unmodified from PyPI, against tickdesk's Schwab simulator.

The simulator is started as a subprocess (``TICKDESK_SIM_CMD``, default: the relay's ``simulator`` subcommand via cargo) on
a free loopback port. Tokens come from the simulator's own ``/v1/oauth/token`` and are written to a token file in
schwab-py's format, then ``schwab.auth.client_from_token_file`` builds the client.

How schwab-py is pointed at the simulator without touching its source: schwab-py builds every REST URL as
``'https://api.schwabapi.com' + path`` (``schwab/client/synchronous.py``) and authlib refreshes tokens at
``schwab.auth.TOKEN_ENDPOINT`` (the same host). All of it goes through the client's ``session``, an authlib
``OAuth2Client`` that is an ``httpx.Client``, so an httpx *request event hook* rewrites each outgoing request's
scheme, host and port to the simulator's just before it is sent (``point_at_sim``). The streamer needs nothing:
``StreamClient`` connects to the ``streamerSocketUrl`` that ``userPreference`` returns, which is the simulator's.
For the login-flow test, ``schwab.auth.OAuth2Client`` (the class schwab-py instantiates internally) is replaced
for the test's duration by a subclass that installs the same hook.
"""

import asyncio
import contextlib
import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import schwab
from schwab.orders.options import OptionSymbol
from schwab.streaming import StreamClient, UnexpectedResponseCode

# Loopback only: never route the simulator's traffic through a proxy from the environment.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

ROOT = Path(__file__).resolve().parents[2]
SIM_CMD = os.environ.get("TICKDESK_SIM_CMD", "cargo run -q -p tickdesk-relay -- simulator")
START_TIMEOUT = float(os.environ.get("TICKDESK_SIM_START_TIMEOUT", "900"))
API_KEY = "sim-app-key"  # the simulator accepts any key and secret
APP_SECRET = "sim-app-secret"
CALLBACK = "https://127.0.0.1:8182"


@contextlib.contextmanager
def running_sim(log_dir, start):
    """A simulator subprocess whose market clock starts at ``start``; yields its base URL.

    It binds port 0 itself and prints the address it got (``schwab simulator listening on http://ADDR/``): no port
    is picked here and released for it to take, which another process could take in between."""
    log_path = log_dir / "simulator.log"
    cmd = shlex.split(SIM_CMD) + ["--listen", "127.0.0.1:0", "--seed", "7", "--tick-ms", "100",
                                  "--start", start]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        base = None
        while True:
            if base is None:
                m = re.search(r"schwab simulator listening on (http://[0-9.:]+)/", log_path.read_text(errors="replace"))
                base = m.group(1) if m else None
            try:
                if base is not None and httpx.get(base + "/sim/state", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"simulator exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"simulator not up after {START_TIMEOUT}s:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield base
    finally:
        # cargo run starts the simulator as a child: stop the whole process group.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    # A market moment in a regular session, whenever the suite runs.
    with running_sim(tmp_path_factory.mktemp("sim"), "2026-12-02T10:15-05:00") as base:
        yield base


@pytest.fixture(scope="module")
def chart_sim(tmp_path_factory):
    # Ten seconds before a minute ends, so the first CHART_EQUITY item comes soon after subscribing.
    with running_sim(tmp_path_factory.mktemp("chart-sim"), "2026-12-02T10:15:50-05:00") as base:
        yield base


def point_at_sim(session, base):
    """Sends every request schwab-py/authlib makes to api.schwabapi.com to the simulator instead."""
    target = httpx.URL(base)

    def rewrite(request):
        if request.url.host == "api.schwabapi.com":
            request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)

    session.event_hooks["request"].append(rewrite)


def sim_tokens(base):
    r = httpx.post(base + "/v1/oauth/token", auth=(API_KEY, APP_SECRET),
                   data={"grant_type": "authorization_code", "code": "any-code", "redirect_uri": CALLBACK})
    r.raise_for_status()
    return r.json()


def write_token_file(path, token, expires_at=None):
    token = dict(token)
    token["expires_at"] = expires_at if expires_at is not None else int(time.time()) + token["expires_in"]
    with open(path, "w") as f:
        json.dump({"creation_timestamp": int(time.time()), "token": token}, f)


@pytest.fixture()
def client(sim, tmp_path):
    path = tmp_path / "token.json"
    write_token_file(path, sim_tokens(sim))
    c = schwab.auth.client_from_token_file(str(path), API_KEY, APP_SECRET)
    point_at_sim(c.session, sim)
    return c


def sim_state(base):
    return httpx.get(base + "/sim/state", timeout=5).json()


def sim_today(client):
    """The simulator's market date, asked of the simulator (its clock is pinned by ``--start``; the host's date says
    nothing about which expiries it lists): its first ``$SPX`` expiry less that expiry's days to expiration."""
    first = client.get_option_expiration_chain("$SPX").json()["expirationList"][0]
    return datetime.date.fromisoformat(first["expirationDate"]) - datetime.timedelta(days=first["daysToExpiration"])


def test_option_chain_is_parsed(client):
    r = client.get_option_chain("AAPL", contract_type=client.Options.ContractType.ALL, strike_count=3,
                                include_underlying_quote=True)
    assert r.status_code == 200, r.text
    chain = r.json()
    assert chain["symbol"] == "AAPL" and chain["status"] == "SUCCESS"
    assert chain["underlying"]["symbol"] == "AAPL" and chain["underlyingPrice"] > 0
    calls, puts = chain["callExpDateMap"], chain["putExpDateMap"]
    assert calls and puts and len(calls) == len(puts)
    n = 0
    for exp_key, strikes in calls.items():
        date, dte = exp_key.split(":")
        assert len(date) == 10 and int(dte) >= 0
        assert len(strikes) == 6  # three strikes either side of the money
        for strike_key, contracts in strikes.items():
            assert float(strike_key) == contracts[0]["strikePrice"]
            c = contracts[0]
            assert c["putCall"] == "CALL" and len(c["symbol"]) == 21
            parsed = OptionSymbol.parse_symbol(c["symbol"])
            assert parsed.underlying_symbol == "AAPL"
            assert parsed.contract_type == "C"
            assert float(parsed.strike_price) == c["strikePrice"]
            assert parsed.expiration_date.isoformat() == date
            assert c["daysToExpiration"] == int(dte)
            assert c["bid"] < c["ask"] and c["volatility"] > 0 and 0 <= c["delta"] <= 1
            n += 1
    assert n == chain["numberOfContracts"] / 2


def test_quotes_expirations_and_price_history(client):
    q = client.get_quotes(["AAPL", "$SPX"]).json()
    assert q["AAPL"]["quote"]["lastPrice"] > 0 and q["$SPX"]["assetMainType"] == "INDEX"
    exps = client.get_option_expiration_chain("$SPX").json()["expirationList"]
    assert exps[0]["daysToExpiration"] == 0 and exps[0]["optionRoots"] == "SPXW"
    h = client.get_price_history_every_day("SPY").json()
    assert h["symbol"] == "SPY" and len(h["candles"]) > 5


async def stream_options(client, keys, want_messages=3, timeout=20):
    stream = StreamClient(client)
    await stream.login()
    messages = []
    stream.add_level_one_option_handler(messages.append)
    await stream.level_one_option_subs(keys)
    deadline = time.monotonic() + timeout
    while len(messages) < want_messages:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(messages)} LEVELONE_OPTIONS messages in {timeout}s"
        await asyncio.wait_for(stream.handle_message(), timeout=left)
    await stream.logout()
    return messages


def test_stream_level_one_options(client, sim):
    today = sim_today(client)
    chain = client.get_option_chain("$SPX", strike_count=2, from_date=today - datetime.timedelta(days=1),
                                    to_date=today + datetime.timedelta(days=10)).json()
    keys = [c[0]["symbol"] for strikes in chain["callExpDateMap"].values() for c in strikes.values()][:4]
    assert len(keys) == 4 and all(k.startswith("SPXW  ") for k in keys)
    messages = asyncio.run(stream_options(client, keys))
    first = messages[0]
    assert first["service"] == "LEVELONE_OPTIONS" and first["command"] == "SUBS"
    items = {item["key"]: item for item in first["content"]}
    assert set(items) == set(keys)
    for key, item in items.items():
        # schwab-py relabels the numeric field ids to names; the first item of a key has every field.
        assert item["DESCRIPTION"].startswith("SPXW ")
        assert isinstance(item["BID_PRICE"], float) and item["ASK_PRICE"] > item["BID_PRICE"]
        assert isinstance(item["OPEN_INTEREST"], int) and isinstance(item["TOTAL_VOLUME"], int)
        assert item["CONTRACT_TYPE"] == "C" and item["UNDERLYING"] == "$SPX" and item["OPTION_ROOT"] == "SPXW"
        # -999 is Schwab's "not computable" (a worthless option), else a delta.
        assert item["DELTA"] == -999.0 or -1 <= item["DELTA"] <= 1
        assert item["STRIKE_TYPE"] > 0
        assert item["assetMainType"] == "OPTION" and item["delayed"] is False
        assert "0" not in item and "SYMBOL" not in item
    # Later messages carry only what changed: never the static description again.
    later = [item for m in messages[1:] for item in m["content"]]
    assert later and all("DESCRIPTION" not in item for item in later)
    assert sim_state(sim)["logins"] >= 1


def test_stream_level_one_equities(client):
    async def run():
        stream = StreamClient(client)
        await stream.login()
        got = []
        stream.add_level_one_equity_handler(got.append)
        await stream.level_one_equity_subs(["AAPL", "SPY"])
        while not got:
            await asyncio.wait_for(stream.handle_message(), timeout=10)
        await stream.logout()
        return got

    first = asyncio.run(run())[0]
    aapl = next(i for i in first["content"] if i["key"] == "AAPL")
    assert aapl["LAST_PRICE"] > 0 and aapl["assetSubType"] == "COE" and aapl["cusip"] == "037833100"


def test_refresh_goes_to_the_simulator(sim, tmp_path):
    path = tmp_path / "token.json"
    old = sim_tokens(sim)
    write_token_file(path, old, expires_at=int(time.time()) - 10)  # expired: authlib refreshes first
    before = sim_state(sim)["tokens_refreshed"]
    c = schwab.auth.client_from_token_file(str(path), API_KEY, APP_SECRET)
    point_at_sim(c.session, sim)
    r = c.get_quote("AAPL")
    assert r.status_code == 200, r.text
    saved = json.loads(path.read_text())["token"]
    assert saved["access_token"] != old["access_token"] and saved["refresh_token"] == old["refresh_token"]
    assert sim_state(sim)["tokens_refreshed"] == before + 1


def test_login_flow_through_authorize_redirect(sim, monkeypatch):
    class SimOAuth2Client(schwab.auth.OAuth2Client):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            point_at_sim(self, sim)

    monkeypatch.setattr(schwab.auth, "OAuth2Client", SimOAuth2Client)
    ctx = schwab.auth.get_auth_context(API_KEY, CALLBACK)
    authorize = httpx.URL(ctx.authorization_url).copy_with(scheme="http", host="127.0.0.1", port=httpx.URL(sim).port)
    r = httpx.get(authorize, follow_redirects=False)
    assert r.status_code == 302
    received_url = r.headers["location"]
    assert received_url.startswith(CALLBACK) and "code=C0." in received_url
    written = []
    c = schwab.auth.client_from_received_url(API_KEY, APP_SECRET, ctx, received_url, written.append)
    assert written and written[0]["token"]["access_token"].startswith("I0.")
    assert c.get_user_preferences().json()["streamerInfo"][0]["streamerSocketUrl"].endswith("/ws")


def test_denied_login_is_code_3(client, sim):
    httpx.post(sim + "/sim/faults/deny-next-login").raise_for_status()

    async def run():
        with pytest.raises(UnexpectedResponseCode) as e:
            await StreamClient(client).login()
        return e.value.response

    resp = asyncio.run(run())
    assert resp["response"][0]["content"]["code"] == 3


def test_chart_equity_and_minute_price_history(chart_sim, tmp_path):
    path = tmp_path / "token.json"
    write_token_file(path, sim_tokens(chart_sim))
    client = schwab.auth.client_from_token_file(str(path), API_KEY, APP_SECRET)
    point_at_sim(client.session, chart_sim)
    # Minute candles over the simulator's market days (its clock, not the wall's): the previous session and this
    # morning's, 09:30 on, every minute.
    et = datetime.timezone(datetime.timedelta(hours=-5))
    r = client.get_price_history_every_minute(
        "AAPL", start_datetime=datetime.datetime(2026, 12, 1, 9, 30, tzinfo=et),
        end_datetime=datetime.datetime(2026, 12, 2, 10, 15, tzinfo=et))
    assert r.status_code == 200, r.text
    candles = r.json()["candles"]
    assert len(candles) == 390 + 46
    times = [c["datetime"] for c in candles]
    assert times == sorted(times) and all(b - a >= 60_000 for a, b in zip(times, times[1:]))
    assert all(c["low"] <= min(c["open"], c["close"]) and c["high"] >= max(c["open"], c["close"]) for c in candles)

    async def run():
        stream = StreamClient(client)
        await stream.login()
        got = []
        stream.add_chart_equity_handler(got.append)
        await stream.chart_equity_subs(["AAPL", "$SPX"])
        deadline = time.monotonic() + 90
        while len({i["key"] for m in got for i in m["content"]}) < 2:
            left = deadline - time.monotonic()
            assert left > 0, "no CHART_EQUITY item for both symbols"
            await asyncio.wait_for(stream.handle_message(), timeout=left)
        await stream.logout()
        return got

    items = [i for m in asyncio.run(run()) for i in m["content"]]
    for item in items:
        # schwab-py names the fields by the wire's real numbering (1 sequence, 2-6 OHLCV, 7 time, 8 day).
        assert item["key"] in ("AAPL", "$SPX")
        assert item["LOW_PRICE"] <= min(item["OPEN_PRICE"], item["CLOSE_PRICE"]) <= item["HIGH_PRICE"]
        assert item["CHART_TIME_MILLIS"] % 60_000 == 0 and item["VOLUME"] >= 0
        assert item["CHART_DAY"] == item["CHART_TIME_MILLIS"] // 86_400_000
        minute = datetime.datetime.fromtimestamp(item["CHART_TIME_MILLIS"] / 1000, et)
        assert item["SEQUENCE"] == (minute.hour - 7) * 60 + minute.minute
        assert isinstance(item["seq"], int)
    # The streamed minute is pricehistory's minute.
    first = items[0]
    h = client.get_price_history_every_minute(
        first["key"], start_datetime=datetime.datetime.fromtimestamp(first["CHART_TIME_MILLIS"] / 1000, et),
        end_datetime=datetime.datetime.fromtimestamp(first["CHART_TIME_MILLIS"] / 1000, et)).json()["candles"]
    assert [(c["open"], c["high"], c["low"], c["close"], c["volume"]) for c in h] == [
        (first["OPEN_PRICE"], first["HIGH_PRICE"], first["LOW_PRICE"], first["CLOSE_PRICE"], first["VOLUME"])]
