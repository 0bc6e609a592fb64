using System.Globalization;

namespace StoreLink.Bench;

/// <summary>The command line of the bench. Every duration has a hard cap so that no run can go on unattended.</summary>
public sealed class BenchOptions
{
    public const double MaxDurationSeconds = 600;
    public const double MaxWarmupSeconds = 120;
    public const double MaxGraceSeconds = 60;
    public const double MaxSetupSeconds = 900;

    public int Pairs { get; private set; } = 100;
    public double Rate { get; private set; } = 1000;
    public double DurationSeconds { get; private set; } = 30;
    public double WarmupSeconds { get; private set; } = 5;
    public double GraceSeconds { get; private set; } = 10;
    public double SetupSeconds { get; private set; } = 300;
    public int Idle { get; private set; }
    public int IdleUsers { get; private set; } = 100;
    public int TextBytes { get; private set; } = 64;
    public int ConnectConcurrency { get; private set; } = 32;
    public double WaitIdleSeconds { get; private set; }
    public bool Ramp { get; private set; }

    /// <summary>Instead of messages: hold one call per pair and measure its signalling (<see cref="CallSignalling"/>).</summary>
    public bool Calls { get; private set; }

    /// <summary>Measure this many calls' set-up in Chromium (<see cref="CallSetup"/>); 0: not.</summary>
    public int CallSetups { get; private set; }

    /// <summary>With <see cref="CallSetups"/>: relay-only ICE through a coturn the bench starts.</summary>
    public bool Turn { get; private set; }

    /// <summary>Run the load against the bare relay, then against the server, and report the ratio.</summary>
    public bool Baseline { get; private set; }
    /// <summary>Run the load against the bare relay only.</summary>
    public bool BaselineOnly { get; private set; }
    /// <summary>Host the relay inside the bench process (its CPU is then part of the bench's).</summary>
    public bool RelayInProcess { get; private set; }

    public Uri? Server { get; private set; }
    public int? ServerPid { get; private set; }
    public string? ServerDll { get; private set; }
    public string Provider { get; private set; } = "sqlite";
    public string? PostgresConnectionString { get; private set; }
    public List<KeyValuePair<string, string>> ServerEnvironment { get; } = [];
    public string? Out { get; private set; }

    /// <summary>Internal: serve the relay on this loopback port until stdin closes (the bench's child process).</summary>
    public int? RelayServePort { get; private set; }

    public bool Help { get; private set; }

    /// <summary>Time after which the whole bench gives up, whatever state it is in.</summary>
    public TimeSpan HardLimit =>
        TimeSpan.FromSeconds((WaitIdleSeconds + SetupSeconds + WarmupSeconds + DurationSeconds + GraceSeconds + 60) * (Baseline ? 2 : 1));

    public static string Usage => """
        StoreLink.Bench — open-loop load generator for the StoreLink WebSocket gateway.

          dotnet tools/StoreLink.Bench/bin/Release/net10.0/StoreLink.Bench.dll [options]

        Load
          --pairs N            customer–agent pairs, one store each (default 100)
          --rate R             messages per second, total over all pairs, scheduled by the clock (default 1000)
          --duration S         measured seconds after the warm-up (default 30, at most 600)
          --warmup S           seconds of load before measuring (default 5, at most 120)
          --ramp               climb from a tenth of the rate to the full rate during the warm-up instead of starting at
                               full rate: a freshly started server runs unoptimized code for its first seconds, and a
                               backlog built then would still be draining in the measured window
          --grace S            after the load stops, how long to wait for outstanding acks and pushes (default 10, at most 60)
          --idle M             extra authenticated connections that only stay open (default 0)
          --idle-users K       distinct visitor tokens the idle connections share (default 100)
          --text-bytes B       length of each message text (default 64)
          --connect-concurrency C  sockets opened at once while setting up (default 32)
          --setup-timeout S    limit for signing in and connecting everything (default 300, at most 900)
          --wait-idle S        before each run, wait up to S seconds for the machine to be idle (under 5 % busy for 3 s);
                               on a machine shared with other work the figures are otherwise theirs too (default 0)

        Calls
          --calls              instead of messages, one video call per pair: start, ring, accept, offer, answer and 8 ICE
                               candidates each way, a quality sample per side every 3 s for --duration seconds, hang-up;
                               reports ring, accept and signal-relay latency and the server's CPU per call (no media:
                               media never passes through StoreLink)
          --call-setup N       N video calls one after the other in Debian's Chromium with fake camera and microphone,
                               through the product's browser call engine: time from accept to the first remote video
                               frame on each side, p50 and p95
          --turn               with --call-setup: start coturn from .ci/coturn on loopback and make the server hand out
                               relay-only ICE, so every call goes through TURN

        Target
          (default)            start the server from its Release build on a free 127.0.0.1 port, fresh data directory, demo seed
          --server-dll PATH    the StoreLink.Server.dll to start (default: src/StoreLink.Server/bin/Release/net10.0)
          --provider sqlite|postgres   storage of the started server (default sqlite)
          --pg "CONN"          Npgsql connection string for --provider postgres (an empty database, or one seeded by an earlier run)
          --server-env K=V     extra environment for the started server, e.g. Realtime__SendQueueFrames=4096 (repeatable)
          --server URL         use a running server (it must have the demo seed and a raised Auth:RequestsPerMinutePerAddress)
          --server-pid PID     with --server: report that process's CPU
          --baseline           also run the same load against a bare WebSocket relay (no storage, no auth) and report ratios
          --baseline-only      run against the relay only
          --relay-in-process   host the relay inside the bench (default: a child process, so its CPU is measured on its own)

        Output
          --out FILE           write the results as JSON

        Exit code: 0 when nothing was lost, duplicated, reordered or left unacknowledged and no error came back;
        1 when any of those happened; 2 for a bad command line or a failed set-up; 3 when the hard time limit hit.
        For many idle connections raise the file-descriptor limit first (ulimit -n 65536): the bench and a server it
        starts each need about one descriptor per connection.
        """;

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            switch (name)
            {
                case "--pairs": o.Pairs = Int(name, Value(), 0, 100_000); break;
                case "--rate": o.Rate = Number(name, Value(), 0.1, 1_000_000); break;
                case "--duration": o.DurationSeconds = Number(name, Value(), 1, MaxDurationSeconds); break;
                case "--warmup": o.WarmupSeconds = Number(name, Value(), 0, MaxWarmupSeconds); break;
                case "--grace": o.GraceSeconds = Number(name, Value(), 1, MaxGraceSeconds); break;
                case "--setup-timeout": o.SetupSeconds = Number(name, Value(), 10, MaxSetupSeconds); break;
                case "--idle": o.Idle = Int(name, Value(), 0, 1_000_000); break;
                case "--idle-users": o.IdleUsers = Int(name, Value(), 1, 1_000_000); break;
                case "--text-bytes": o.TextBytes = Int(name, Value(), 48, 16_000); break;
                case "--connect-concurrency": o.ConnectConcurrency = Int(name, Value(), 1, 1024); break;
                case "--wait-idle": o.WaitIdleSeconds = Number(name, Value(), 0, 3600); break;
                case "--ramp": o.Ramp = true; break;
                case "--calls": o.Calls = true; break;
                case "--call-setup": o.CallSetups = Int(name, Value(), 1, 1000); o.Pairs = 1; break;
                case "--turn": o.Turn = true; break;
                case "--baseline": o.Baseline = true; break;
                case "--baseline-only": o.BaselineOnly = true; break;
                case "--relay-in-process": o.RelayInProcess = true; break;
                case "--server": o.Server = Url(name, Value()); break;
                case "--server-pid": o.ServerPid = Int(name, Value(), 1, int.MaxValue); break;
                case "--server-dll": o.ServerDll = Path.GetFullPath(Value()); break;
                case "--provider": o.Provider = Value().ToLowerInvariant(); break;
                case "--pg": o.PostgresConnectionString = Value(); break;
                case "--server-env":
                    var pair = Value();
                    var eq = pair.IndexOf('=');
                    if (eq <= 0)
                        throw new ArgumentException("--server-env takes KEY=VALUE.");
                    o.ServerEnvironment.Add(new(pair[..eq], pair[(eq + 1)..]));
                    break;
                case "--out": o.Out = Path.GetFullPath(Value()); break;
                case "--relay-serve": o.RelayServePort = Int(name, Value(), 1, 65535); break;
                case "-h" or "--help": o.Help = true; break;
                default: throw new ArgumentException($"Unknown option {name}; see --help.");
            }
        }
        if (o.Provider is not ("sqlite" or "postgres"))
            throw new ArgumentException("--provider is sqlite or postgres.");
        if (o.Provider == "postgres" && o.Server is null && string.IsNullOrWhiteSpace(o.PostgresConnectionString))
            throw new ArgumentException("--provider postgres needs --pg \"Host=127.0.0.1;…\".");
        if (o.ServerPid is not null && o.Server is null)
            throw new ArgumentException("--server-pid goes with --server.");
        if (o.Turn && o.CallSetups == 0)
            throw new ArgumentException("--turn goes with --call-setup.");
        if (o.Calls && (o.Pairs == 0 || o.Baseline || o.BaselineOnly))
            throw new ArgumentException("--calls needs --pairs and has no relay baseline.");
        if (o.Pairs == 0 && o.Idle == 0)
            throw new ArgumentException("Nothing to do: --pairs 0 and --idle 0.");
        if (o.Pairs > 0 && o.Rate / o.Pairs > 10_000)
            throw new ArgumentException("More than 10,000 messages per second per pair: use more pairs.");
        return o;
    }

    private static int Int(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n : throw new ArgumentException($"{name} is a whole number from {min} to {max}.");

    private static double Number(string name, string value, double min, double max) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n : throw new ArgumentException($"{name} is a number from {min} to {max}.");

    private static Uri Url(string name, string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new ArgumentException($"{name} is an http:// address.");
        // The bench sends traffic to this machine only.
        if (!uri.IsLoopback)
            throw new ArgumentException($"{name} must be a loopback address (127.0.0.1, localhost, [::1]).");
        return uri;
    }
}
