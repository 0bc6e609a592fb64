using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;

namespace StoreLink.Bench;

/// <summary>What the load runs against: the server or the relay, and the process whose CPU is its cost.</summary>
public sealed record Target(string Name, Uri Url, int? Pid, bool InBenchProcess, string Provider);

/// <summary>
/// One run of the load against one target. Sends are scheduled by the clock at a fixed total rate (open loop):
/// message g is due at start + g / rate and goes to pair g mod N, whether or not earlier ones were answered, so
/// a slow server shows up as latency instead of silently lowering the load. Latencies are measured from the
/// scheduled time (not from when the bench got round to sending), which keeps a stalled bench or server from
/// hiding its own delay.
/// </summary>
public sealed class LoadRun
{
    private static readonly double _ticksPerMs = Stopwatch.Frequency / 1000.0;

    private readonly BenchOptions _options;
    private readonly Target _target;
    private readonly string _runId;
    private readonly Pair[] _pairs;
    private readonly IReadOnlyList<string> _idleTokens;
    private readonly List<ClientWebSocket> _idle = [];
    private readonly List<Task> _receivers = [];
    private readonly ConcurrentQueue<string> _problems = new();
    private readonly ConcurrentDictionary<string, long> _idleFrames = new();
    private long _unexpectedCloses;
    private volatile bool _closing;

    public LoadRun(BenchOptions options, Target target, Prepared prepared, string runId)
    {
        _options = options;
        _target = target;
        _runId = runId;
        _idleTokens = prepared.IdleTokens;
        // Room for every message a pair can be given, plus rounding.
        var capacity = options.Pairs == 0 ? 0 : (int)Math.Ceiling((options.WarmupSeconds + options.DurationSeconds) * options.Rate / options.Pairs) + 2;
        _pairs = [.. prepared.Pairs.Select((p, i) => new Pair(i, p, capacity, options.TextBytes, runId))];
    }

    /// <summary>The per-pair record of every message: when it was due, sent, acknowledged and delivered.</summary>
    private sealed class Pair
    {
        private readonly string _framePrefix;
        private readonly string _textPrefix;
        private readonly int _textBytes;

        public Pair(int index, PairSetup setup, int capacity, int textBytes, string runId)
        {
            Index = index;
            Setup = setup;
            Capacity = capacity;
            Due = new long[capacity];
            Sent = new long[capacity];
            Acked = new long[capacity];
            Delivered = new long[capacity];
            AckSeq = new long[capacity];
            DeliveredSeq = new long[capacity];
            Deliveries = new int[capacity];
            Failed = new bool[capacity];
            _textBytes = textBytes;
            _framePrefix = $"{{\"type\":\"send\",\"conversation_id\":\"{setup.ConversationId}\",\"kind\":\"text\",\"client_msg_id\":\"{runId}.{index}.";
            _textPrefix = $"bench {runId} pair {index} msg ";
        }

        public int Index { get; }
        public PairSetup Setup { get; }
        public int Capacity { get; }
        public ClientWebSocket Customer { get; set; } = null!;
        public ClientWebSocket Agent { get; set; } = null!;
        public long[] Due { get; }
        public long[] Sent { get; }
        public long[] Acked { get; }
        public long[] Delivered { get; }
        public long[] AckSeq { get; }
        public long[] DeliveredSeq { get; }
        public int[] Deliveries { get; }
        public bool[] Failed { get; }
        public Channel<int> Queue { get; } = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        public int Scheduled;
        public long LastSeq;
        public int LastIndex = -1;
        public int Reordered;
        public int Duplicated;
        public int Misrouted;
        public int Errors;
        public int DoubleAcks;
        public Dictionary<string, long> CustomerFrames { get; } = [];
        public Dictionary<string, long> AgentFrames { get; } = [];

        /// <summary>The send frame of message k; its text carries the pair, the index and the due time.</summary>
        public byte[] SendFrame(int k)
        {
            var micros = (long)(Due[k] / (Stopwatch.Frequency / 1_000_000.0));
            var text = new StringBuilder(_textBytes + 16).Append(_textPrefix).Append(k).Append(" due ").Append(micros).Append("us ");
            text.Append('.', Math.Max(0, _textBytes - text.Length));
            return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"{_framePrefix}{k}\",\"rid\":\"{k}\",\"body\":{{\"text\":\"{text}\"}}}}"));
        }
    }

    public async Task<RunResult> RunAsync(CancellationToken setup)
    {
        var result = new RunResult { Target = _target.Name, Url = _target.Url.ToString(), Provider = _target.Provider, Pairs = _pairs.Length,
            RateTarget = _options.Rate, WarmupSeconds = _options.WarmupSeconds, Ramp = _options.Ramp, DurationSeconds = _options.DurationSeconds, IdleRequested = _options.Idle };
        var ws = new UriBuilder(_target.Url) { Scheme = _target.Url.Scheme == "https" ? "wss" : "ws", Path = "/v1/ws" }.Uri;
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(15) });

        var framesBeforeReady = Wire.FramesBeforeReady;
        Log($"[{_target.Name}] opening {_pairs.Length * 2} pair sockets");
        await Parallel.ForEachAsync(_pairs, new ParallelOptions { MaxDegreeOfParallelism = _options.ConnectConcurrency, CancellationToken = setup }, async (pair, token) =>
        {
            pair.Customer = await Wire.ConnectAsync(ws, pair.Setup.CustomerToken, invoker, 16 * 1024, token);
            pair.Agent = await Wire.ConnectAsync(ws, pair.Setup.AgentToken, invoker, 16 * 1024, token);
        });
        foreach (var pair in _pairs)
        {
            _receivers.Add(Task.Run(() => CustomerLoopAsync(pair), CancellationToken.None));
            _receivers.Add(Task.Run(() => AgentLoopAsync(pair), CancellationToken.None));
        }

        result.ServerRssMbBeforeIdle = Rss();
        if (_options.Idle > 0)
        {
            Log($"[{_target.Name}] opening {_options.Idle} idle sockets");
            var clock = Stopwatch.StartNew();
            await OpenIdleAsync(ws, invoker, setup);
            result.IdleConnectSeconds = clock.Elapsed.TotalSeconds;
            Log($"[{_target.Name}] {_idle.Count} idle sockets open in {clock.Elapsed.TotalSeconds:0.0} s");
        }
        result.IdleConnected = _idle.Count;
        result.FramesBeforeReady = Wire.FramesBeforeReady - framesBeforeReady;
        // Let the connection-time work (presence of the agents, their pushes) finish before measuring, and promote
        // everything the set-up allocated now, so no full collection of the bench's heap falls into the window.
        await Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        result.ServerRssMbAfterIdle = Rss();

        // From here on only the hard limit stops the run: the set-up deadline no longer applies. While the load
        // runs the bench's GC avoids blocking full collections, whose pauses would count as the target's latency.
        var latencyMode = System.Runtime.GCSettings.LatencyMode;
        System.Runtime.GCSettings.LatencyMode = System.Runtime.GCLatencyMode.SustainedLowLatency;
        try
        {
            if (_pairs.Length > 0)
                await LoadAsync(result, CancellationToken.None);
            else
                await MeasureIdleOnlyAsync(result, CancellationToken.None);
        }
        finally
        {
            System.Runtime.GCSettings.LatencyMode = latencyMode;
        }

        result.ServerRssMbAtEnd = Rss();
        result.ServerOpenFiles = _target.Pid is { } pid && !_target.InBenchProcess ? ProcStat.OpenFiles(pid) : null;
        result.UnexpectedCloses = Interlocked.Read(ref _unexpectedCloses);
        await CloseAllAsync();
        Summarize(result);
        result.Problems = [.. _problems.Take(20)];
        return result;
    }

    private async Task OpenIdleAsync(Uri ws, HttpMessageInvoker invoker, CancellationToken ct)
    {
        var sockets = new ClientWebSocket?[_options.Idle];
        var failures = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, _options.Idle), new ParallelOptions { MaxDegreeOfParallelism = _options.ConnectConcurrency, CancellationToken = ct }, async (i, token) =>
        {
            try
            {
                sockets[i] = await Wire.ConnectAsync(ws, _idleTokens[i % _idleTokens.Count], invoker, 1024, token);
            }
            catch (Exception e) when (e is WebSocketException or SetupException or HttpRequestException or IOException)
            {
                // Keep going so the report says how many could be opened; the first reasons are kept.
                if (Interlocked.Increment(ref failures) <= 5)
                    Problem($"idle socket {i} failed to open: {e.Message}");
            }
        });
        foreach (var socket in sockets)
        {
            if (socket is null)
                continue;
            _idle.Add(socket);
            _receivers.Add(IdleLoopAsync(socket));
        }
        if (failures > 0)
            Log($"[{_target.Name}] {failures} idle sockets could not be opened");
    }

    private async Task LoadAsync(RunResult result, CancellationToken ct)
    {
        var frequency = Stopwatch.Frequency;
        var start = Stopwatch.GetTimestamp() + frequency / 20;
        var measureFrom = start + (long)(_options.WarmupSeconds * frequency);
        var measureTo = measureFrom + (long)(_options.DurationSeconds * frequency);
        result.MeasureFromTicks = measureFrom;
        result.MeasureToTicks = measureTo;

        var senders = _pairs.Select(p => Task.Run(() => SendLoopAsync(p), CancellationToken.None)).ToArray();
        var scheduler = new Thread(() => Schedule(start, measureTo)) { IsBackground = true, Name = "bench scheduler", Priority = ThreadPriority.Highest };
        Log($"[{_target.Name}] load: {_options.Rate} msg/s over {_pairs.Length} pairs, {_options.WarmupSeconds} s warm-up" +
            (_options.Ramp ? $" climbing from {_options.Rate / 10} msg/s" : "") + $" + {_options.DurationSeconds} s measured");
        scheduler.Start();

        await DelayUntilAsync(measureFrom, ct);
        var before = Sample();
        await DelayUntilAsync(measureTo, ct);
        var after = Sample();
        scheduler.Join();
        foreach (var pair in _pairs)
            pair.Queue.Writer.TryComplete();
        ApplyCpu(result, before, after);

        // Grace: wait for what is still in flight, but no longer than --grace.
        var graceEnd = Stopwatch.GetTimestamp() + (long)(_options.GraceSeconds * frequency);
        while (Stopwatch.GetTimestamp() < graceEnd && !AllSettled())
            await Task.Delay(20, ct);
        await Task.WhenAny(Task.WhenAll(senders), Task.Delay(TimeSpan.FromSeconds(1), ct));
    }

    private async Task MeasureIdleOnlyAsync(RunResult result, CancellationToken ct)
    {
        var frequency = Stopwatch.Frequency;
        var measureFrom = Stopwatch.GetTimestamp() + (long)(_options.WarmupSeconds * frequency);
        var measureTo = measureFrom + (long)(_options.DurationSeconds * frequency);
        await DelayUntilAsync(measureFrom, ct);
        var before = Sample();
        await DelayUntilAsync(measureTo, ct);
        ApplyCpu(result, before, Sample());
    }

    /// <summary>
    /// Seconds after the start at which message g is due. At a constant rate R that is g / R. With <c>--ramp</c> the
    /// rate climbs linearly from R/10 to R over the warm-up W: the first N(t) = r0·t + (R − r0)·t² / 2W messages are
    /// due by t, solved here for t; after the warm-up the rate is R.
    /// </summary>
    private double DueSeconds(long g)
    {
        var rate = _options.Rate;
        var warmup = _options.WarmupSeconds;
        if (!_options.Ramp || warmup <= 0)
            return g / rate;
        var r0 = rate / 10;
        var rampMessages = (r0 + rate) * warmup / 2;
        if (g >= rampMessages)
            return warmup + (g - rampMessages) / rate;
        var a = (rate - r0) / (2 * warmup);
        return (-r0 + Math.Sqrt(r0 * r0 + 4 * a * g)) / (2 * a);
    }

    private void Schedule(long start, long end)
    {
        var frequency = (double)Stopwatch.Frequency;
        var count = _pairs.Length;
        long g = 0;
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            while (true)
            {
                var due = start + (long)(DueSeconds(g) * frequency);
                if (due >= end)
                    return;
                if (due > now)
                    break;
                var pair = _pairs[g % count];
                var k = (int)(g / count);
                if (k >= pair.Capacity)
                    return;
                pair.Due[k] = due;
                pair.Scheduled = k + 1;
                pair.Queue.Writer.TryWrite(k);
                g++;
            }
            // About a millisecond on Linux: sends leave in small bursts, and the bench does not spin a core the server needs.
            Thread.Sleep(1);
        }
    }

    private async Task SendLoopAsync(Pair pair)
    {
        try
        {
            await foreach (var k in pair.Queue.Reader.ReadAllAsync())
            {
                var frame = pair.SendFrame(k);
                pair.Sent[k] = Stopwatch.GetTimestamp();
                await pair.Customer.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or IOException)
        {
            Problem($"pair {pair.Index}: sending failed: {e.Message}");
        }
    }

    private async Task CustomerLoopAsync(Pair pair)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var frame = await ReceiveOrNullAsync(pair.Customer, buffer, $"pair {pair.Index} customer");
            if (frame is null)
                return;
            var now = Stopwatch.GetTimestamp();
            buffer = frame.Value.Buffer;
            var info = Wire.Parse(buffer.AsSpan(0, frame.Value.Length));
            Count(pair.CustomerFrames, info.Type);
            if (info.Type is not ("ok" or "error"))
                continue;
            if (!int.TryParse(info.Rid, NumberStyles.None, CultureInfo.InvariantCulture, out var k) || k >= pair.Capacity)
            {
                if (info.Type == "error")
                    pair.Errors++;
                Problem($"pair {pair.Index}: answer to an unknown rid: {Encoding.UTF8.GetString(buffer, 0, frame.Value.Length)}");
                continue;
            }
            if (info.Type == "error")
            {
                pair.Errors++;
                pair.Failed[k] = true;
                Problem($"pair {pair.Index} msg {k}: error {info.Code}: {info.Text}");
            }
            else if (pair.Acked[k] != 0)
                pair.DoubleAcks++;
            else
            {
                pair.AckSeq[k] = info.Seq;
                Volatile.Write(ref pair.Acked[k], now);
            }
        }
    }

    private async Task AgentLoopAsync(Pair pair)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var frame = await ReceiveOrNullAsync(pair.Agent, buffer, $"pair {pair.Index} agent");
            if (frame is null)
                return;
            var now = Stopwatch.GetTimestamp();
            buffer = frame.Value.Buffer;
            var info = Wire.Parse(buffer.AsSpan(0, frame.Value.Length));
            // A message without a client id was written by the server (the notice that the agent took the
            // conversation, an out-of-hours reply), not by the pair's customer: counted apart, not checked.
            Count(pair.AgentFrames, info is { Type: "message", ClientMsgId: null } ? "message(server)" : info.Type);
            if (info.Type != "message" || info.ClientMsgId is null)
                continue;
            if (!TryMessageIndex(info.ClientMsgId, out var owner, out var k) || owner != pair.Index || k >= pair.Capacity)
            {
                pair.Misrouted++;
                Problem($"pair {pair.Index}: agent got a message that is not its pair's: {info.ClientMsgId}");
                continue;
            }
            if (pair.Deliveries[k]++ > 0)
            {
                pair.Duplicated++;
                Problem($"pair {pair.Index} msg {k}: delivered again (seq {info.Seq})");
                continue;
            }
            pair.DeliveredSeq[k] = info.Seq;
            Volatile.Write(ref pair.Delivered[k], now);
            // One sender per conversation, sending in order: both the seq and the bench's index must rise.
            if (info.Seq <= pair.LastSeq || k <= pair.LastIndex)
            {
                pair.Reordered++;
                Problem($"pair {pair.Index}: msg {k} (seq {info.Seq}) delivered after msg {pair.LastIndex} (seq {pair.LastSeq})");
            }
            pair.LastSeq = Math.Max(pair.LastSeq, info.Seq);
            pair.LastIndex = Math.Max(pair.LastIndex, k);
        }
    }

    private async Task IdleLoopAsync(ClientWebSocket socket)
    {
        var buffer = new byte[1024];
        while (true)
        {
            var frame = await ReceiveOrNullAsync(socket, buffer, "idle socket");
            if (frame is null)
                return;
            buffer = frame.Value.Buffer;
            var type = Wire.Parse(buffer.AsSpan(0, frame.Value.Length)).Type ?? "(none)";
            _idleFrames.AddOrUpdate(type, 1, (_, n) => n + 1);
        }
    }

    /// <summary>The next frame, or null when the socket ended; an end the bench did not ask for is counted.</summary>
    private async Task<(byte[] Buffer, int Length)?> ReceiveOrNullAsync(WebSocket socket, byte[] buffer, string who)
    {
        try
        {
            var frame = await Wire.ReceiveAsync(socket, buffer, CancellationToken.None);
            if (frame is null && !_closing)
            {
                Interlocked.Increment(ref _unexpectedCloses);
                Problem($"{who}: the server closed the socket: {socket.CloseStatus} {socket.CloseStatusDescription}");
            }
            return frame;
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            if (!_closing)
            {
                Interlocked.Increment(ref _unexpectedCloses);
                Problem($"{who}: the socket failed: {e.Message}");
            }
            return null;
        }
    }

    private bool TryMessageIndex(string? clientMsgId, out int pair, out int k)
    {
        pair = k = -1;
        var parts = clientMsgId?.Split('.');
        return parts is { Length: 3 } && parts[0] == _runId &&
            int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out pair) &&
            int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out k);
    }

    private static void Count(Dictionary<string, long> counts, string? type)
    {
        var key = type ?? "(none)";
        counts[key] = counts.GetValueOrDefault(key) + 1;
    }

    private bool AllSettled()
    {
        foreach (var pair in _pairs)
        {
            for (var k = 0; k < Volatile.Read(ref pair.Scheduled); k++)
            {
                if (pair.Failed[k])
                    continue;
                if (Volatile.Read(ref pair.Acked[k]) == 0 || Volatile.Read(ref pair.Delivered[k]) == 0)
                    return false;
            }
        }
        return true;
    }

    private async Task CloseAllAsync()
    {
        _closing = true;
        var sockets = _pairs.SelectMany(p => new[] { p.Customer, p.Agent }).Concat(_idle).Where(s => s is not null).ToList();
        await Parallel.ForEachAsync(sockets, new ParallelOptions { MaxDegreeOfParallelism = 256 },
            async (socket, _) => await Wire.CloseOutputAsync(socket, TimeSpan.FromSeconds(5)));
        // The receive loops end when the server answers the close; whatever has not after a while is cut.
        await Task.WhenAny(Task.WhenAll(_receivers), Task.Delay(TimeSpan.FromSeconds(10)));
        foreach (var socket in sockets)
        {
            socket.Abort();
            socket.Dispose();
        }
    }

    private sealed record CpuSample(double? Target, double Bench, double? Machine, long Ticks, TimeSpan GcPause, int GcCount);

    private CpuSample Sample()
    {
        double? target = _target.Pid is { } pid && !_target.InBenchProcess ? ProcStat.CpuSeconds(pid) : null;
        return new(target, ProcStat.CpuSeconds(Environment.ProcessId) ?? 0, ProcStat.MachineBusySeconds(), Stopwatch.GetTimestamp(),
            GC.GetTotalPauseDuration(), GC.CollectionCount(0));
    }

    private void ApplyCpu(RunResult result, CpuSample before, CpuSample after)
    {
        result.WindowSeconds = (after.Ticks - before.Ticks) / (double)Stopwatch.Frequency;
        result.BenchGcPauseMs = (after.GcPause - before.GcPause).TotalMilliseconds;
        result.BenchGcCount = after.GcCount - before.GcCount;
        result.ServerCpuSeconds = after.Target - before.Target;
        result.BenchCpuSeconds = after.Bench - before.Bench;
        result.ServerCpuIncludedInBench = _target.InBenchProcess;
        // Whatever else kept the machine's cores busy meanwhile (other processes, the kernel's own threads).
        if (after.Machine - before.Machine is { } machine && result.WindowSeconds > 0)
            result.OtherCores = Math.Max(0, machine - (result.ServerCpuSeconds ?? 0) - result.BenchCpuSeconds) / result.WindowSeconds;
    }

    private double? Rss() => _target.Pid is { } pid && !_target.InBenchProcess ? ProcStat.RssBytes(pid) / (1024.0 * 1024) : null;

    private static async Task DelayUntilAsync(long timestamp, CancellationToken ct)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
        if (wait > TimeSpan.Zero)
            await Task.Delay(wait, ct);
    }

    private void Problem(string text)
    {
        if (_problems.Count < 200)
            _problems.Enqueue(text);
    }

    private static void Log(string text) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {text}");

    private void Summarize(RunResult r)
    {
        var from = r.MeasureFromTicks;
        var to = r.MeasureToTicks;
        var ack = new List<long>();
        var delivery = new List<long>();
        var lag = new List<long>();
        long ackedInWindow = 0, deliveredInWindow = 0;
        var seconds = new SortedDictionary<long, List<long>>();
        var customerFrames = new Dictionary<string, long>();
        var agentFrames = new Dictionary<string, long>();
        foreach (var pair in _pairs)
        {
            for (var k = 0; k < pair.Scheduled; k++)
            {
                var due = pair.Due[k];
                r.Scheduled++;
                if (pair.Sent[k] == 0)
                {
                    r.Unsent++;
                    continue;
                }
                r.Sent++;
                var acked = pair.Acked[k];
                var delivered = pair.Delivered[k];
                if (acked != 0)
                    r.Acked++;
                if (delivered != 0)
                    r.Delivered++;
                if (acked != 0 && delivered == 0)
                    r.Lost++;
                if (acked == 0 && !pair.Failed[k])
                    r.Unacked++;
                if (acked != 0 && delivered != 0 && pair.AckSeq[k] != pair.DeliveredSeq[k])
                {
                    r.Mismatched++;
                    Problem($"pair {pair.Index} msg {k}: acked with seq {pair.AckSeq[k]} but delivered with seq {pair.DeliveredSeq[k]}");
                }
                if (acked >= from && acked < to)
                    ackedInWindow++;
                if (delivered >= from && delivered < to)
                    deliveredInWindow++;
                if (delivered != 0)
                {
                    var second = (due - (from - (long)(_options.WarmupSeconds * Stopwatch.Frequency))) / Stopwatch.Frequency;
                    if (!seconds.TryGetValue(second, out var list))
                        seconds[second] = list = [];
                    list.Add(delivered - due);
                }
                if (due < from || due >= to)
                    continue;
                lag.Add(pair.Sent[k] - due);
                if (acked != 0)
                    ack.Add(acked - due);
                if (delivered != 0)
                    delivery.Add(delivered - due);
            }
            r.Duplicated += pair.Duplicated;
            r.Reordered += pair.Reordered;
            r.Misrouted += pair.Misrouted;
            r.Errors += pair.Errors;
            r.DoubleAcks += pair.DoubleAcks;
            Merge(customerFrames, pair.CustomerFrames);
            Merge(agentFrames, pair.AgentFrames);
        }
        r.AckedPerSecond = r.WindowSeconds > 0 ? ackedInWindow / r.WindowSeconds : 0;
        r.DeliveredPerSecond = r.WindowSeconds > 0 ? deliveredInWindow / r.WindowSeconds : 0;
        r.AckedInWindow = ackedInWindow;
        r.AckMs = Latency.Of(ack);
        r.DeliveryMs = Latency.Of(delivery);
        r.SendLagMs = Latency.Of(lag);
        r.FramesToCustomers = customerFrames;
        r.FramesToAgents = agentFrames;
        r.FramesToIdle = new Dictionary<string, long>(_idleFrames);
        r.Timeline = [.. seconds.Select(s => new SecondStats(s.Key, s.Value.Count, Latency.Of(s.Value).P99, Latency.Of(s.Value).Max))];
        if (r.ServerCpuSeconds is { } cpu && ackedInWindow > 0)
            r.ServerCpuPer1000 = cpu / ackedInWindow * 1000;
        if (ackedInWindow > 0)
            r.BenchCpuPer1000 = r.BenchCpuSeconds / ackedInWindow * 1000;
    }

    private static void Merge(Dictionary<string, long> into, Dictionary<string, long> from)
    {
        foreach (var (key, value) in from)
            into[key] = into.GetValueOrDefault(key) + value;
    }

    /// <summary>Percentiles of a set of durations in Stopwatch ticks, in milliseconds.</summary>
    public sealed record Latency(long Count, double Mean, double P50, double P99, double P999, double Max)
    {
        public static Latency Of(List<long> ticks)
        {
            if (ticks.Count == 0)
                return new Latency(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
            ticks.Sort();
            double At(double q) => ticks[Math.Clamp((int)Math.Ceiling(q * ticks.Count) - 1, 0, ticks.Count - 1)] / _ticksPerMs;
            return new Latency(ticks.Count, ticks.Average() / _ticksPerMs, At(0.50), At(0.99), At(0.999), ticks[^1] / _ticksPerMs);
        }
    }
}

/// <summary>Delivery latency of the messages due within one second of the load (warm-up included), to see a trend.</summary>
public sealed record SecondStats(long Second, int Messages, double DeliveryP99Ms, double DeliveryMaxMs);
