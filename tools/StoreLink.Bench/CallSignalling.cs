using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace StoreLink.Bench;

/// <summary>
/// The signalling load of calls (<c>--calls</c>): every pair holds one video call at once, as a browser would signal it
/// — start, ring, accept, an offer and an answer of browser size, trickled candidates both ways, a quality sample per
/// side every 3 seconds while the call is held, hang-up and its summary. No media: media never passes through
/// StoreLink, so what a node carries per call is exactly this. Measures ring and accept latency, signal relay latency,
/// and the server's CPU per held call.
/// </summary>
public sealed class CallSignalling(BenchOptions options, Target target, Prepared prepared)
{
    private const int CandidatesPerSide = 8;
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(3);
    private static readonly string Sdp = FakeSdp();

    private readonly ConcurrentBag<double> _ringMs = [];
    private readonly ConcurrentBag<double> _acceptMs = [];
    private readonly ConcurrentBag<double> _signalMs = [];
    private readonly ConcurrentBag<string> _problems = [];
    private long _summaries;
    private long _samples;

    public async Task<int> RunAsync(CancellationToken ct)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = target.Url, Timeout = TimeSpan.FromSeconds(60) };
        var ws = new Uri(target.Url, "/v1/ws");
        var sides = new List<(Side Customer, Side Agent, PairSetup Pair)>();
        foreach (var chunk in prepared.Pairs.Chunk(options.ConnectConcurrency))
            sides.AddRange(await Task.WhenAll(chunk.Select(async pair =>
                (await Side.ConnectAsync(ws, pair.CustomerToken, ct), await Side.ConnectAsync(ws, pair.AgentToken, ct), pair))));
        Log($"{sides.Count} pairs connected; starting {sides.Count} calls");

        var cpuBefore = ProcStat.CpuSeconds(target.Pid ?? 0);
        var clock = Stopwatch.StartNew();
        var calls = await Task.WhenAll(sides.Select(s => SetUpAsync(http, s.Customer, s.Agent, s.Pair, ct)));
        var setupSeconds = clock.Elapsed.TotalSeconds;
        var cpuAfterSetup = ProcStat.CpuSeconds(target.Pid ?? 0);
        var held = calls.Count(c => c is not null);
        Log($"{held} calls active after {setupSeconds:0.0} s; holding them {options.DurationSeconds:0} s");

        using var hold = new CancellationTokenSource(TimeSpan.FromSeconds(options.DurationSeconds));
        var holdClock = Stopwatch.StartNew();
        await Task.WhenAll(sides.Zip(calls).Where(x => x.Second is not null).Select(x => HoldAsync(http, x.First.Customer, x.First.Agent, x.Second!, hold.Token)));
        var holdSeconds = holdClock.Elapsed.TotalSeconds;
        var cpuAfterHold = ProcStat.CpuSeconds(target.Pid ?? 0);

        await Task.WhenAll(sides.Zip(calls).Where(x => x.Second is not null).Select(x => HangUpAsync(http, x.First.Customer, x.First.Agent, x.Second!, ct)));
        foreach (var (customer, agent, _) in sides)
        {
            await customer.DisposeAsync();
            await agent.DisposeAsync();
        }

        Console.WriteLine();
        Console.WriteLine($"calls: {sides.Count} started, {held} active, {Interlocked.Read(ref _summaries)} summaries seen by agents (want {held})");
        Console.WriteLine($"ring (start answered → agent's ringing frame)  {Percentiles(_ringMs)}");
        Console.WriteLine($"accept (accept sent → caller's active frame)    {Percentiles(_acceptMs)}");
        Console.WriteLine($"signal relay (sent → other side received)      {Percentiles(_signalMs)}  ({_signalMs.Count} signals)");
        Console.WriteLine($"set-up of all calls: {setupSeconds:0.00} s" + (cpuBefore is { } b && cpuAfterSetup is { } s
            ? $", server CPU {s - b:0.00} s = {(s - b) / Math.Max(1, held) * 1000:0.0} ms per call set up" : ""));
        Console.WriteLine($"held {held} calls for {holdSeconds:0.0} s with {Interlocked.Read(ref _samples)} quality samples" + (cpuAfterSetup is { } h0 && cpuAfterHold is { } h1
            ? $": server {(h1 - h0) / holdSeconds:0.000} cores = {(h1 - h0) / holdSeconds / Math.Max(1, held) * 1000:0.00} milli-cores per held call" : ""));
        foreach (var problem in _problems.Take(10))
            Console.WriteLine($"  problem: {problem}");
        var ok = _problems.IsEmpty && held == sides.Count && Interlocked.Read(ref _summaries) == held;
        Console.WriteLine(ok ? "calls: every call rang, connected, held and ended with one summary." : "calls FAILED (see the problems above).");
        return ok ? 0 : 1;
    }

    private sealed record CallIds(string CallId, string CustomerId, string AgentId);

    private async Task<CallIds?> SetUpAsync(HttpClient http, Side customer, Side agent, PairSetup pair, CancellationToken ct)
    {
        try
        {
            var ringing = agent.NextAsync(f => Type(f) == "call" && State(f) == "ringing", ct);
            var started = Stopwatch.GetTimestamp();
            var call = await PostAsync(http, pair.CustomerToken, $"/v1/conversations/{pair.ConversationId}/calls", new { media = "video", device_id = "bench-customer" }, ct);
            var callId = call!["id"]!.GetValue<string>();
            await ringing;
            _ringMs.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);

            var active = customer.NextAsync(f => Type(f) == "call" && State(f) == "active", ct);
            var accepting = Stopwatch.GetTimestamp();
            await PostAsync(http, pair.AgentToken, $"/v1/calls/{callId}/accept", new { device_id = "bench-agent" }, ct);
            await active;
            _acceptMs.Add(Stopwatch.GetElapsedTime(accepting).TotalMilliseconds);

            var ids = new CallIds(callId, customer.UserId, agent.UserId);
            // The later joiner offers (the browser engine's rule); the caller answers; both trickle candidates.
            await SignalAsync(agent, customer, ids, new JsonObject { ["type"] = "offer", ["sdp"] = Sdp }, ct);
            await SignalAsync(customer, agent, ids, new JsonObject { ["type"] = "answer", ["sdp"] = Sdp }, ct);
            for (var i = 0; i < CandidatesPerSide; i++)
            {
                var candidate = $"candidate:{i} 1 udp {2122260223 - i} 127.0.0.1 {50000 + i} typ host generation 0 ufrag bench network-id 1";
                await Task.WhenAll(
                    SignalAsync(agent, customer, ids, new JsonObject { ["type"] = "candidate", ["candidate"] = candidate, ["sdp_mid"] = "0", ["sdp_mline_index"] = 0 }, ct),
                    SignalAsync(customer, agent, ids, new JsonObject { ["type"] = "candidate", ["candidate"] = candidate, ["sdp_mid"] = "0", ["sdp_mline_index"] = 0 }, ct));
            }
            return ids;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            _problems.Add($"set-up of {pair.ConversationId}: {e.Message}");
            return null;
        }
    }

    private async Task SignalAsync(Side from, Side to, CallIds call, JsonObject signal, CancellationToken ct)
    {
        var mark = Guid.NewGuid().ToString("N");
        signal["bench"] = mark;
        var received = to.NextAsync(f => Type(f) == "call_signal" && f["signal"]?["bench"]?.GetValue<string>() == mark, ct);
        var sent = Stopwatch.GetTimestamp();
        var answer = await from.RequestAsync(new JsonObject
        {
            ["type"] = "call_signal", ["call_id"] = call.CallId, ["to"] = to.UserId, ["to_device"] = DeviceOf(call, to), ["signal"] = signal,
        }, ct);
        if (Type(answer) != "ok")
            throw new InvalidOperationException($"call_signal answered {answer.ToJsonString()}");
        await received;
        _signalMs.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
    }

    private static string DeviceOf(CallIds call, Side side) => side.UserId == call.CustomerId ? "bench-customer" : "bench-agent";

    private async Task HoldAsync(HttpClient http, Side customer, Side agent, CallIds call, CancellationToken hold)
    {
        // Spread the samples over the period like independent browsers, not all on the same tick.
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(0, (int)SampleEvery.TotalMilliseconds)), hold);
            while (!hold.IsCancellationRequested)
            {
                foreach (var (side, token, device) in new[] { (customer, customer.Token, "bench-customer"), (agent, agent.Token, "bench-agent") })
                {
                    await PostAsync(http, token, $"/v1/calls/{call.CallId}/stats", new
                    {
                        device_id = device, rtt_ms = 20 + Random.Shared.Next(0, 30), loss_percent = 0.1, jitter_ms = 3, bitrate_kbps = 900,
                        width = 640, height = 480, fps = 30, relay = false, connected = true,
                    }, CancellationToken.None);
                    Interlocked.Increment(ref _samples);
                }
                await Task.Delay(SampleEvery, hold);
            }
        }
        catch (OperationCanceledException) when (hold.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _problems.Add($"holding {call.CallId}: {e.Message}");
        }
    }

    private async Task HangUpAsync(HttpClient http, Side customer, Side agent, CallIds call, CancellationToken ct)
    {
        try
        {
            var ended = agent.NextAsync(f => Type(f) == "call" && State(f) == "ended", ct);
            var summary = agent.NextAsync(f => Type(f) == "message" && f["message"]?["kind"]?.GetValue<string>() == "call", ct);
            await PostAsync(http, customer.Token, $"/v1/calls/{call.CallId}/hangup", new { }, ct);
            var end = await ended;
            if (end["call"]?["end_reason"]?.GetValue<string>() != "completed")
                _problems.Add($"{call.CallId} ended {end["call"]?["end_reason"]}");
            await summary;
            Interlocked.Increment(ref _summaries);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            _problems.Add($"hang-up of {call.CallId}: {e.Message}");
        }
    }

    private static async Task<JsonNode?> PostAsync(HttpClient http, string token, string path, object body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"POST {path} answered {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    private static string? Type(JsonNode f) => f["type"]?.GetValue<string>();
    private static string? State(JsonNode f) => f["call"]?["state"]?.GetValue<string>();

    private static string Percentiles(ConcurrentBag<double> values)
    {
        if (values.IsEmpty)
            return "no samples";
        var sorted = values.Order().ToArray();
        double At(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        return $"p50 {At(0.50),7:0.0} ms  p95 {At(0.95),7:0.0} ms  p99 {At(0.99),7:0.0} ms  max {sorted[^1],7:0.0} ms";
    }

    /// <summary>An SDP of the size a browser's video offer has (about 5 KB): the relay's cost is in its size, not its sense.</summary>
    private static string FakeSdp()
    {
        var sdp = new StringBuilder("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n");
        for (var i = 0; sdp.Length < 5000; i++)
            sdp.Append($"a=rtpmap:{96 + i % 30} VP8/90000\r\na=rtcp-fb:{96 + i % 30} nack pli\r\n");
        return sdp.ToString();
    }

    private static void Log(string text) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {text}");

    /// <summary>One signed-in socket: requests with rids, and waiters for pushed frames (a frame wakes every waiter it matches).</summary>
    private sealed class Side : IAsyncDisposable
    {
        private readonly ClientWebSocket _socket = new();
        private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonNode>> _answers = new();
        private readonly List<(Func<JsonNode, bool> Match, TaskCompletionSource<JsonNode> Done)> _waiters = [];
        private readonly SemaphoreSlim _send = new(1, 1);
        private Task _reader = Task.CompletedTask;
        private long _rid;

        public string Token { get; private init; } = "";
        public string UserId { get; private set; } = "";

        public static async Task<Side> ConnectAsync(Uri ws, string token, CancellationToken ct)
        {
            var side = new Side { Token = token };
            var uri = new UriBuilder(ws) { Scheme = ws.Scheme == "https" ? "wss" : "ws" }.Uri;
            await side._socket.ConnectAsync(uri, ct);
            var ready = side.NextAsync(f => Type(f) == "ready", ct);
            side._reader = side.ReadAsync();
            await side.SendAsync(new JsonObject { ["type"] = "auth", ["token"] = token }, ct);
            side.UserId = (await ready)["user"]!["id"]!.GetValue<string>();
            return side;
        }

        public Task<JsonNode> NextAsync(Func<JsonNode, bool> match, CancellationToken ct)
        {
            var done = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_waiters)
                _waiters.Add((match, done));
            return done.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        }

        public async Task<JsonNode> RequestAsync(JsonObject frame, CancellationToken ct)
        {
            var rid = $"r{Interlocked.Increment(ref _rid)}";
            frame["rid"] = rid;
            var answer = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
            _answers[rid] = answer;
            await SendAsync(frame, ct);
            return await answer.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        }

        private async Task SendAsync(JsonObject frame, CancellationToken ct)
        {
            var bytes = Encoding.UTF8.GetBytes(frame.ToJsonString());
            await _send.WaitAsync(ct);
            try
            {
                await _socket.SendAsync(bytes, WebSocketMessageType.Text, true, ct);
            }
            finally
            {
                _send.Release();
            }
        }

        private async Task ReadAsync()
        {
            var buffer = new byte[128 * 1024];
            try
            {
                while (_socket.State == WebSocketState.Open)
                {
                    var length = 0;
                    ValueWebSocketReceiveResult result;
                    do
                    {
                        result = await _socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                        length += result.Count;
                    }
                    while (!result.EndOfMessage && length < buffer.Length);
                    if (result.MessageType == WebSocketMessageType.Close)
                        return;
                    var frame = JsonNode.Parse(buffer.AsSpan(0, length))!;
                    if (frame["rid"]?.GetValue<string>() is { } rid && _answers.TryRemove(rid, out var answer))
                        answer.TrySetResult(frame);
                    lock (_waiters)
                        for (var i = _waiters.Count - 1; i >= 0; i--)
                            if (_waiters[i].Match(frame))
                            {
                                _waiters[i].Done.TrySetResult(frame);
                                _waiters.RemoveAt(i);
                            }
                }
            }
            catch (WebSocketException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException)
            {
            }
            await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
            _socket.Dispose();
        }
    }
}
