using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using Microsoft.Extensions.DependencyInjection;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Realtime;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;
using StoreLink.Tests.Integrations;

namespace StoreLink.Tests.Fuzz;

/// <summary>
/// Seeded mutation fuzzing of both ways in. Valid REST bodies and WebSocket frames of every kind, with real ids of
/// the demo data, are broken thousands of ways (<see cref="Mutator"/>). Whatever arrives, the server answers with
/// the protocol — a 4xx problem document with a known code, an <c>ok</c> or <c>error</c> frame, or a protocol close
/// code — logs no error, stays usable, and leaves no connection behind. The seed is fixed so a failure replays;
/// <c>STORELINK_FUZZ_SEED</c> replays another run or explores new ground.
/// </summary>
public sealed partial class FuzzTests
{
    private const int DefaultSeed = 20261122;
    private const int RestCases = 7200;
    private const int FramesPerPersona = 800;
    private const int AuthFrameCases = 320;
    private const int MaxReportedFailures = 25;

    private static readonly HashSet<string> ProtocolCodes =
    [
        ErrorCodes.Unauthorized, ErrorCodes.Forbidden, ErrorCodes.NotFound, ErrorCodes.InvalidRequest, ErrorCodes.TooLarge,
        ErrorCodes.Conflict, ErrorCodes.Unprocessable, ErrorCodes.RateLimited, ErrorCodes.Unavailable, ErrorCodes.Internal,
        // The signed inbound hook's own answers.
        ErrorCodes.InvalidSignature, ErrorCodes.StaleTimestamp, ErrorCodes.Replayed,
    ];

    private static readonly HashSet<string> PushTypes = ["message", "receipt", "message_recalled", "typing", "conversation", "presence"];

    // Names a mutation may add: members of other calls and frames belong in the wrong places too.
    private static readonly string[] MemberNames =
    [
        "type", "rid", "token", "conversation_id", "client_msg_id", "kind", "body", "text", "attachment_id", "duration_ms", "latitude",
        "longitude", "label", "positions", "seq", "message_id", "status", "login", "password", "store_key", "identity_token", "user_id",
        "name", "member_ids", "store_id", "role", "roles", "time_zone", "business_hours", "external_id", "phone", "vip_level",
        "attributes", "purchases", "permissions", "disabled", "__proto__", "constructor",
    ];

    // Ids for paths, already percent-encoded: unknown, malformed, traversal, invalid UTF-8, very long.
    private static readonly string[] PathIds =
    [
        "cnv_00000000000000000000000000", "msg_ZZZZZZZZZZZZZZZZZZZZZZZZZZ", "x", "%00", "..%2F..%2Fhealthz", "%F0%9F%98%80", "%ED%A0%80", "%FF%FE",
        "a%20b", "%E2%80%AE", "null", "-1", "99999999999999999999", new string('a', 3000), "%25", "%u0000",
    ];

    private static readonly string?[] ContentTypes =
    [
        null, "text/plain", "application/json; charset=utf-16", "application/json; charset=bogus", "application/json; charset=latin1",
        "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/merge-patch+json", "APPLICATION/JSON",
        "application/xml", "application/json; charset=\"utf-8\"", "application/problem+json", "*/*", "application/", "json",
    ];

    /// <summary>The run's seed, written to the test output first so that any failure, expected or not, can be replayed.</summary>
    private static int Seed()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("STORELINK_FUZZ_SEED"), out var value) ? value : DefaultSeed;
        TestContext.Current.TestOutputHelper?.WriteLine($"Fuzz seed {seed} (replay with STORELINK_FUZZ_SEED={seed})");
        return seed;
    }

    [Fact]
    public async Task Mutated_rest_bodies_get_4xx_problem_documents_never_a_5xx()
    {
        var seed = Seed();
        var clock = Stopwatch.StartNew();
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, new Dictionary<string, string?>
        {
            // So that the bodies reach validation rather than all stopping at the per-address limits of sign-ins and hooks.
            ["Auth:RequestsPerMinutePerAddress"] = "1000000",
            ["Connectors:HookRequestsPerMinute"] = "1000000",
            ["Connectors:HookRefusalsPerMinute"] = "1000000",
            // The store's system and the webhook receiver listen on loopback; every other private target stays refused.
            ["Webhooks:AllowedTargets:0"] = "127.0.0.1/32",
            ["Webhooks:Timeout"] = "00:00:02",
        });
        await using var system = await StoreSystem.StartAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        var world = await World.PrepareAsync(app);
        var workplace = await Workplace.PrepareAsync(app, world, system, receiver);
        // Online, so that a conversation may be transferred to someone.
        await using var manager = await app.ConnectAsync(world.Tokens.Manager);
        var templates = RestTemplates(world).Concat(WorkTemplates(world, workplace, app.Clock)).ToList();
        IReadOnlyList<string> ids = [.. world.Ids, .. workplace.Ids];
        TestContext.Current.TestOutputHelper?.WriteLine($"{templates.Count} calls, prepared in {clock.Elapsed.TotalSeconds:0.0} s");
        // Bodies over the limit are sent after "Expect: 100-continue", and the client waits for the answer as long as it takes.
        using var http = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = app.ServerUri,
            Timeout = TimeSpan.FromSeconds(30),
        };
        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        // Per call: its answers' statuses, for the line of calls that were never accepted.
        var answers = new ConcurrentDictionary<(string Name, int Status), int>();

        await Parallel.ForAsync(0, RestCases, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
        {
            if (failures.Count >= MaxReportedFailures)
                return;
            var request = RestCase(seed, i, templates, world, ids);
            int status;
            string? mediaType;
            string body;
            bool closesConnection;
            try
            {
                (status, mediaType, body, closesConnection) = await SendAsync(http, request);
            }
            catch (HttpRequestException e)
            {
                failures.Enqueue($"REST case {i} {request.Describe()}: no answer: {e.Message} {e.InnerException?.Message}");
                return;
            }
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            answers.AddOrUpdate((request.Name, status), 1, (_, n) => n + 1);
            // Kestrel itself refuses a request line whose path decodes to a NUL, before any application code runs:
            // a bare 400 that closes the connection. That is HTTP, out of the application's reach.
            if (request.Path.Contains("%00", StringComparison.Ordinal) && status == 400 && body.Length == 0 && closesConnection)
                return;
            if (RestProblem(status, mediaType, body) is { } problem)
                failures.Enqueue($"REST case {i} {request.Describe()}: {problem}: {Preview(body)}");
        });

        Report("REST", seed, clock, statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"));
        // A call whose valid request never got through tests only its refusals: worth a look when this list grows.
        var byCall = answers.GroupBy(a => a.Key.Name).ToDictionary(g => g.Key, g => g.OrderBy(a => a.Key.Status).Select(a => $"{a.Key.Status}×{a.Value}").ToList());
        var neverAccepted = templates.Select(t => t.Name).Where(n => !answers.Keys.Any(a => a.Name == n && a.Status is >= 200 and < 300))
            .Select(n => $"{n} ({string.Join(" ", byCall.GetValueOrDefault(n) ?? ["never sent"])})").ToList();
        TestContext.Current.TestOutputHelper?.WriteLine("Never accepted: " + (neverAccepted.Count == 0 ? "none" : string.Join(", ", neverAccepted)));
        Assert.True(failures.IsEmpty, Failures(seed, failures));

        // The server lives on: health, and a fresh client signs in, opens a conversation and writes in it.
        Assert.Equal(200, (await app.Anonymous().GetJsonAsync("/healthz")).Status);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        Assert.Equal(201, (await MessagingTests.SendAsync(customer, id, "fuzzing is over")).Status);
        Assert.True(app.Log.Errors.IsEmpty, $"Seed {seed}: the server logged errors:\n{string.Join("\n", app.Log.Errors.Take(5))}");
        // The mutations must leave some requests valid enough to succeed, or they test only the JSON reader.
        Assert.True(statuses.Where(s => s.Key is >= 200 and < 300).Sum(s => s.Value) > RestCases / 20, "Too few requests succeeded to reach the actions.");
        Assert.True(statuses.GetValueOrDefault(400) > RestCases / 5, "Too few requests were refused as invalid.");
    }

    [Fact]
    public async Task Mutated_websocket_frames_get_ok_error_or_a_protocol_close_and_no_socket_hangs()
    {
        var seed = Seed();
        var clock = Stopwatch.StartNew();
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var world = await World.PrepareAsync(app);
        var failures = new ConcurrentQueue<string>();
        var outcomes = new ConcurrentDictionary<string, int>();
        void Count(string outcome) => outcomes.AddOrUpdate(outcome, 1, (_, n) => n + 1);

        var personas = world.Personas;
        var workers = personas.Select((persona, p) => FuzzFramesAsync(app, world, persona, seed, stream: 10 + p, failures, Count)).ToList();
        workers.Add(FuzzAuthFramesAsync(app, world, seed, failures, Count));
        await Task.WhenAll(workers);
        Report("WebSocket", seed, clock, outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key}×{o.Value}"));
        Assert.True(failures.IsEmpty, Failures(seed, failures));

        var registry = app.Services.GetRequiredService<ConnectionRegistry>();
        Assert.True(await DrainsAsync(registry), $"Seed {seed}: {registry.Count} connections still registered after every fuzz client left.");

        Assert.Equal(200, (await app.Anonymous().GetJsonAsync("/healthz")).Status);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        await using (var visitor = await app.ConnectAsync(StoreLinkApp.TokenOf(customer)))
        await using (var agent = await app.ConnectAsync(StoreLinkApp.TokenOf(await app.LoginAsync("agent.digital@demo.local"))))
        {
            var sent = await visitor.SendMessageAsync(id, "after the storm");
            Assert.Equal("ok", sent.GetProperty("type").GetString());
            var pushed = await agent.NextAsync(f => f.GetProperty("type").GetString() == "message" &&
                f.GetProperty("message").GetProperty("conversation_id").GetString() == id);
            Assert.Equal(sent.GetProperty("message").GetProperty("id").GetString(), pushed.GetProperty("message").GetProperty("id").GetString());
        }
        Assert.True(await DrainsAsync(registry), $"Seed {seed}: the last clients' connections stayed registered.");
        Assert.True(app.Log.Errors.IsEmpty, $"Seed {seed}: the server logged errors:\n{string.Join("\n", app.Log.Errors.Take(5))}");
        Assert.True(outcomes.Where(o => o.Key.StartsWith("frame ok", StringComparison.Ordinal)).Sum(o => o.Value) > FramesPerPersona * personas.Count / 20,
            "Too few frames were accepted to reach the actions.");
    }

    [Fact]
    public async Task Clients_that_send_garbage_and_vanish_leave_no_connection_behind()
    {
        var seed = Seed();
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var world = await World.PrepareAsync(app);
        var registry = app.Services.GetRequiredService<ConnectionRegistry>();
        // Something to stream, so a sync is still being written when its client disappears.
        for (var i = 0; i < 40; i++)
            await MessagingTests.SendAsync(world.VisitorA, world.ConversationA, $"backlog {i}");

        var behaviours = Enum.GetValues<Vanish>();
        var clients = Enumerable.Range(0, 48).Select(i => VanishAsync(app, world, behaviours[i % behaviours.Length], new Random(Mix(seed, 3, i))));
        await Task.WhenAll(clients);

        Assert.True(await DrainsAsync(registry), $"Seed {seed}: {registry.Count} connections of vanished clients are still registered.");
        Assert.Equal(200, (await app.Anonymous().GetJsonAsync("/healthz")).Status);
        await using (var ws = await app.ConnectAsync(world.Tokens.VisitorA))
            Assert.Equal("ok", (await ws.SendMessageAsync(world.ConversationA, "still here")).GetProperty("type").GetString());
        Assert.True(await DrainsAsync(registry));
        Assert.True(app.Log.Errors.IsEmpty, $"Seed {seed}: the server logged errors:\n{string.Join("\n", app.Log.Errors.Take(5))}");
    }

    // ---- REST ----

    private sealed record RestTemplate(string Name, HttpMethod Method, string Path, string? Token, Func<int, JsonObject?> Body, int Weight)
    {
        /// <summary>Query parameters with valid values; each one is kept, broken, dropped or repeated.</summary>
        public IReadOnlyList<(string Name, string Value)> Query { get; init; } = [];

        /// <summary>Headers made from the case's number, the valid body and the body sent (a hook's signature).</summary>
        public Func<int, byte[]?, byte[]?, Mutator, IEnumerable<(string Name, string Value)>>? Headers { get; init; }

        /// <summary>The call takes <c>Idempotency-Key</c>: cases send one now and then, reused or broken.</summary>
        public bool Idempotent { get; init; }
    }

    private sealed record RestRequest(string Name, HttpMethod Method, string Path, string? Authorization, byte[]? Body, string? ContentType, string Changes,
        IReadOnlyList<(string Name, string Value)> Headers)
    {
        public string Describe() => $"{Method} {Preview(Path, 120)} [{Name}; {Changes}; content-type {ContentType ?? "none"}" +
            string.Concat(Headers.Select(h => $"; {h.Name}: {Preview(h.Value, 60)}")) + $"] body {Preview(Body)}";
    }

    private static List<RestTemplate> RestTemplates(World w)
    {
        var t = w.Tokens;
        var post = HttpMethod.Post;
        JsonObject Hours() => new() { ["mon"] = new JsonArray(new JsonObject { ["open"] = "09:00", ["close"] = "21:00" }), ["sun"] = new JsonArray() };
        return
        [
            new("login", post, "/v1/auth/login", null, _ => new() { ["login"] = "admin@demo.local", ["password"] = DemoSeed.Password }, 3),
            new("visitor", post, "/v1/auth/visitor", null, _ => new() { ["store_key"] = "demo-digital" }, 4),
            new("customer", post, "/v1/auth/customer", null, _ => new() { ["store_key"] = "demo-digital", ["identity_token"] = w.IdentityToken }, 4),
            new("open service", post, "/v1/conversations", t.VisitorA, _ => new() { ["store_key"] = "demo-digital" }, 4),
            new("open direct", post, "/v1/conversations", t.Agent, _ => new() { ["kind"] = "direct", ["user_id"] = w.ManagerId }, 3),
            new("open group", post, "/v1/conversations", t.Agent, i => new() { ["kind"] = "group", ["name"] = $"组 {i}", ["member_ids"] = new JsonArray(w.ManagerId, w.AgentId) }, 3),
            new("send text", post, $"/v1/conversations/{w.ConversationA}/messages", t.VisitorA, i => Text(i, "屏幕碎了，能修吗？"), 6),
            new("send text (staff)", post, $"/v1/conversations/{w.ConversationA}/messages", t.Agent, i => Text(i, "您好，请问什么型号？"), 4),
            new("send location", post, $"/v1/conversations/{w.ConversationA}/messages", t.VisitorA, i => Location(i), 4),
            new("send image", post, $"/v1/conversations/{w.ConversationA}/messages", t.VisitorA, i => Image(i, w.AttachmentA), 4),
            new("send in group", post, $"/v1/conversations/{w.Group}/messages", t.Agent, i => Text(i, "组里说一声"), 2),
            new("read", post, $"/v1/conversations/{w.ConversationA}/read", t.Agent, _ => new() { ["seq"] = 1 }, 3),
            new("delivered", post, $"/v1/conversations/{w.ConversationA}/delivered", t.VisitorA, _ => new() { ["seq"] = 2 }, 3),
            new("add members", post, $"/v1/conversations/{w.Group}/members", t.Agent, _ => new() { ["user_ids"] = new JsonArray(w.ManagerId) }, 2),
            new("create store", post, "/v1/stores", t.Admin, i => new()
            {
                ["store_key"] = $"fuzz-{i}", ["name"] = $"模糊店 {i}", ["kind"] = "direct", ["time_zone"] = "Asia/Shanghai", ["business_hours"] = Hours(),
            }, 4),
            new("update store", HttpMethod.Patch, $"/v1/stores/{w.StoreBags}", t.Admin, i => new()
            {
                ["name"] = $"箱包批发店 {i}", ["kind"] = "direct", ["time_zone"] = "Asia/Shanghai", ["business_hours"] = Hours(),
            }, 4),
            new("update store (manager)", HttpMethod.Patch, $"/v1/stores/{w.StoreDigital}", t.Manager, _ => new() { ["name"] = "数码旗舰店", ["time_zone"] = "Europe/Berlin" }, 2),
            new("create staff", post, "/v1/staff", t.Admin, i => new()
            {
                ["login"] = $"fuzz{i}@demo.local", ["name"] = $"模糊 {i}", ["password"] = "fuzzfuzz1",
                ["roles"] = new JsonArray(new JsonObject { ["store_id"] = w.StoreBags, ["role"] = "agent" }),
            }, 1),
            new("rename self", HttpMethod.Patch, $"/v1/staff/{w.AgentId}", t.Agent, i => new() { ["name"] = $"数码客服 {i % 7}" }, 2),
            new("upsert customer", post, "/v1/customers", t.Admin, i => Customer(i, w.StoreDigital), 4),
            new("upsert customer (key)", post, "/v1/customers", t.ApiKey, i => Customer(i, w.StoreBags), 3),
            new("create api client", post, "/v1/api-clients", t.Admin, i => new()
            {
                ["name"] = $"集成 {i}", ["store_id"] = w.StoreDigital, ["permissions"] = new JsonArray("customers:read", "stores:read"),
            }, 3),
            new("presence", HttpMethod.Put, "/v1/me/presence", t.Agent, _ => new() { ["status"] = "away" }, 2),
            new("recall", post, $"/v1/messages/{w.MessageAgent}/recall", t.Agent, _ => null, 1),
            new("history", HttpMethod.Get, $"/v1/conversations/{w.ConversationA}/messages?after_seq={{0}}&limit={{1}}", t.VisitorA, _ => null, 2),
            new("history back", HttpMethod.Get, $"/v1/conversations/{w.ConversationA}/messages?before_seq={{0}}&limit={{1}}", t.Agent, _ => null, 1),
            new("search customers", HttpMethod.Get, "/v1/customers?q={0}&limit={1}", t.Manager, _ => null, 2),
            new("list conversations", HttpMethod.Get, "/v1/conversations?limit={1}", t.Admin, _ => null, 1),
        ];
    }

    private static JsonObject Text(int i, string text) =>
        new() { ["client_msg_id"] = $"rest-{i}", ["kind"] = "text", ["body"] = new JsonObject { ["text"] = $"{text} #{i}" } };

    private static JsonObject Location(int i) => new()
    {
        ["client_msg_id"] = $"rest-{i}", ["kind"] = "location",
        ["body"] = new JsonObject { ["latitude"] = 31.2304, ["longitude"] = 121.4737, ["label"] = "上海市黄浦区" },
    };

    private static JsonObject Image(int i, string attachmentId) =>
        new() { ["client_msg_id"] = $"rest-{i}", ["kind"] = "image", ["body"] = new JsonObject { ["attachment_id"] = attachmentId } };

    private static JsonObject Customer(int i, string storeId) => new()
    {
        ["external_id"] = $"F{i % 40}", ["name"] = "模糊顾客", ["phone"] = "13800000000", ["vip_level"] = 3,
        ["attributes"] = new JsonObject { ["source"] = "fuzz", ["tier"] = 2 },
        ["purchases"] = new JsonArray(new JsonObject
        {
            ["order_no"] = $"SO-{i}", ["store_id"] = storeId, ["item"] = "iPhone 16", ["amount"] = "7999.00", ["currency"] = "CNY",
            ["purchased_at"] = "2026-10-01T08:00:00.000Z",
        }),
    };

    private static RestRequest RestCase(int seed, int index, List<RestTemplate> templates, World w, IReadOnlyList<string> ids)
    {
        var random = new Random(Mix(seed, 1, index));
        var mutator = new Mutator(random, ids, MemberNames);
        var template = PickWeighted(random, templates);
        var path = template.Path;
        var changes = new List<string>();
        if (path.Contains("{0}", StringComparison.Ordinal) || path.Contains("{1}", StringComparison.Ordinal))
        {
            path = path.Replace("{0}", mutator.Pick(QueryValues), StringComparison.Ordinal).Replace("{1}", mutator.Pick(QueryValues), StringComparison.Ordinal);
            changes.Add("query");
        }
        if (template.Query.Count > 0)
        {
            var (query, queryChanges) = Query(template.Query, mutator, ids);
            path += "?" + query;
            if (queryChanges.Length > 0)
                changes.Add(queryChanges);
        }
        if (mutator.Chance(0.1))
        {
            // Another id in the path: a foreign tenant's, another kind's, or no real id at all.
            var segments = path.Split('/');
            var at = Array.FindLastIndex(segments, s => s.IndexOf('_', StringComparison.Ordinal) is > 0 and <= 4 && s.Length >= 28 && !s.Contains('?', StringComparison.Ordinal));
            if (at >= 0)
            {
                var id = mutator.Chance(0.5) ? mutator.Pick(w.Ids) : mutator.Pick(PathIds);
                segments[at] = id.Contains('%', StringComparison.Ordinal) ? id : Uri.EscapeDataString(id);
                path = string.Join('/', segments);
                changes.Add("path id");
            }
        }
        byte[]? body = null;
        var valid = template.Body(index);
        var validBytes = valid is null ? null : Mutator.Serialize(valid);
        if (valid is not null)
        {
            body = mutator.Mutate(valid, out var bodyChanges);
            changes.Add(bodyChanges);
        }
        else if (template.Method != HttpMethod.Get && mutator.Chance(0.5))
        {
            body = Encoding.UTF8.GetBytes("{\"unexpected\":true}");
        }
        var contentType = "application/json";
        if (mutator.Chance(0.1))
        {
            contentType = mutator.Pick(ContentTypes)!;
            changes.Add("content type");
        }
        if (valid is not null && body is not null && mutator.Chance(0.01))
        {
            // Over the 1 MiB limit of JSON calls. (Only where the call reads a body: a call that reads none answers
            // without reading, and the server then drops the connection under the upload, as HTTP/1.1 servers do.)
            body = [.. body, .. Encoding.UTF8.GetBytes(new string(' ', 1024 * 1024 + 16))];
            changes.Add("over 1 MiB");
        }
        var token = template.Token;
        if (mutator.Chance(0.05))
        {
            token = mutator.Pick<string?>([null, w.Tokens.Franchise, w.Tokens.VisitorF, w.Tokens.ApiKey, "sla_forged", "slk_" + new string('k', 300), w.Tokens.VisitorA]);
            changes.Add("other caller");
        }
        var authorization = token is null ? null : mutator.Chance(0.02) ? mutator.Pick(["Basic YTpi", "Bearer", "Bearer  " + token, "bearer " + token, token]) : "Bearer " + token;
        var headers = template.Headers?.Invoke(index, validBytes, body, mutator).ToList() ?? [];
        if (template.Idempotent && mutator.Chance(0.3))
            headers.Add(("Idempotency-Key", mutator.Chance(0.6) ? $"fz-{index % 40}" : mutator.Pick(IdempotencyKeys)));
        return new RestRequest(template.Name, template.Method, path, authorization, body, body is null ? null : contentType, string.Join("; ", changes), headers);
    }

    private static readonly string[] QueryValues =
        ["0", "1", "-1", "", "abc", "1.5", "9223372036854775808", "2147483648", "%00", "%ED%A0%80", "%F0%9F%98%80", new string('9', 500), "1e3", "+5", "0x10"];

    private static readonly string[] QueryTexts =
    [
        "true", "false", "TRUE", "yes", "me", "null", "%20", "%2F..%2F", "2026-13-45", "2026-02-30", "9999-12-31T23:59:59Z", "0001-01-01", "2026-11-25T08:30:00%2B08:00",
        "2026-11-25T08:30:00", "%27%20OR%201%3D1%20--", "%E5%B1%8F%E5%B9%95", "%FF%FE", new string('x', 3000), "a&b=c", "%26", "%3D",
    ];

    /// <summary>
    /// A query string from valid parameters, broken one parameter at a time: an edge number or text, another id (of
    /// another tenant too), the name dropped or given twice; now and then an unknown one.
    /// </summary>
    private static (string Query, string Changes) Query(IReadOnlyList<(string Name, string Value)> valid, Mutator mutator, IReadOnlyList<string> ids)
    {
        var parts = new List<string>();
        var changes = new List<string>();
        foreach (var (name, value) in valid)
        {
            var roll = mutator.Random.NextDouble();
            if (roll < 0.6)
                parts.Add($"{name}={Uri.EscapeDataString(value)}");
            else if (roll < 0.7)
                changes.Add($"no {name}");
            else if (roll < 0.8)
            {
                parts.Add($"{name}={Uri.EscapeDataString(value)}");
                parts.Add($"{name}={mutator.Pick(QueryValues)}");
                changes.Add($"{name} twice");
            }
            else
            {
                var broken = mutator.Random.Next(3) switch
                {
                    0 => mutator.Pick(QueryValues),
                    1 => mutator.Pick(QueryTexts),
                    _ => Uri.EscapeDataString(mutator.Pick(ids)),
                };
                parts.Add($"{name}={broken}");
                changes.Add($"{name}={Preview(broken, 40)}");
            }
        }
        if (mutator.Chance(0.05))
        {
            parts.Add(mutator.Pick(["unknown=1", "=", "&&", "limit", "%00=%00", "store_id[]=x"]));
            changes.Add("odd parameter");
        }
        return (string.Join('&', parts), string.Join("; ", changes));
    }

    private static async Task<(int Status, string? MediaType, string Body, bool ClosesConnection)> SendAsync(HttpClient http, RestRequest request)
    {
        using var message = new HttpRequestMessage(request.Method, request.Path);
        if (request.Body is not null)
        {
            message.Content = new ByteArrayContent(request.Body);
            if (request.ContentType is not null)
                message.Content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType);
        }
        if (request.Authorization is not null)
            message.Headers.TryAddWithoutValidation("Authorization", request.Authorization);
        foreach (var (name, value) in request.Headers)
            message.Headers.TryAddWithoutValidation(name, value);
        // Over the limit, the server answers 413 before the body is read and closes the connection: a client that
        // asks first gets that answer instead of a broken pipe.
        if (request.Body is { Length: > 1024 * 1024 })
            message.Headers.ExpectContinue = true;
        using var response = await http.SendAsync(message);
        var body = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, body, response.Headers.ConnectionClose == true);
    }

    /// <summary>What is wrong with an answer, or null: 2xx, or 4xx as a problem document with a protocol code and no stack trace.</summary>
    private static string? RestProblem(int status, string? mediaType, string body)
    {
        if (status is >= 200 and < 300)
            return null;
        if (status is < 400 or >= 500)
            return $"status {status}";
        if (mediaType != "application/problem+json")
            return $"{status} answered as {mediaType ?? "no content type"}";
        if (body.Contains("   at ", StringComparison.Ordinal))
            return $"{status} with a stack trace";
        try
        {
            using var doc = JsonDocument.Parse(body);
            var code = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String
                ? c.GetString() : null;
            if (code is null || !ProtocolCodes.Contains(code) || code == ErrorCodes.Internal)
                return $"{status} with code {code ?? "(none)"}";
            return null;
        }
        catch (JsonException)
        {
            return $"{status} with a problem document that is not JSON";
        }
    }

    // ---- WebSocket ----

    /// <summary>Who sends the frames of one worker, and the ids that are valid for them.</summary>
    private sealed record Persona(string Name, string Token, string ConversationId, string MessageId, string AttachmentId, string OtherConversationId);

    private static List<Func<int, JsonObject>> FrameTemplates(Persona p) =>
    [
        i => new() { ["type"] = "send", ["rid"] = $"f{i}", ["conversation_id"] = p.ConversationId, ["client_msg_id"] = $"ws-{p.Name}-{i}", ["kind"] = "text", ["body"] = new JsonObject { ["text"] = $"屏幕碎了 #{i}" } },
        i => new() { ["type"] = "send", ["rid"] = $"f{i}", ["conversation_id"] = p.ConversationId, ["client_msg_id"] = $"ws-{p.Name}-{i}", ["kind"] = "text", ["body"] = new JsonObject { ["text"] = "ok" } },
        i => new() { ["type"] = "send", ["rid"] = $"f{i}", ["conversation_id"] = p.ConversationId, ["client_msg_id"] = $"ws-{p.Name}-{i}", ["kind"] = "location", ["body"] = new JsonObject { ["latitude"] = 31.2304, ["longitude"] = 121.4737, ["label"] = "门店" } },
        i => new() { ["type"] = "send", ["rid"] = $"f{i}", ["conversation_id"] = p.ConversationId, ["client_msg_id"] = $"ws-{p.Name}-{i}", ["kind"] = "image", ["body"] = new JsonObject { ["attachment_id"] = p.AttachmentId } },
        i => new() { ["type"] = "send", ["rid"] = $"f{i}", ["conversation_id"] = p.ConversationId, ["client_msg_id"] = $"ws-{p.Name}-{i}", ["kind"] = "voice", ["body"] = new JsonObject { ["attachment_id"] = p.AttachmentId, ["duration_ms"] = 3000 } },
        i => new() { ["type"] = "sync", ["rid"] = $"f{i}", ["positions"] = new JsonObject { [p.ConversationId] = 1_000_000, [p.OtherConversationId] = 1_000_000 } },
        i => new() { ["type"] = "read", ["rid"] = $"f{i}", ["conversation_id"] = p.ConversationId, ["seq"] = 1 + i % 5 },
        i => new() { ["type"] = "delivered", ["rid"] = $"f{i}", ["conversation_id"] = p.ConversationId, ["seq"] = 1 + i % 5 },
        i => new() { ["type"] = "recall", ["rid"] = $"f{i}", ["message_id"] = p.MessageId },
        _ => new() { ["type"] = "typing", ["conversation_id"] = p.ConversationId },
        i => new() { ["type"] = "presence", ["rid"] = $"f{i}", ["status"] = i % 2 == 0 ? "away" : "online" },
        i => new() { ["type"] = "ping", ["rid"] = $"f{i}" },
    ];

    /// <summary>
    /// One connection's worth of fuzzing: each broken frame is followed by a ping, and everything that arrives before
    /// the ping's ok is the answer to that frame (the server handles a connection's frames in order). A closed socket
    /// must carry a protocol close code; then the worker reconnects and goes on.
    /// </summary>
    private static async Task FuzzFramesAsync(StoreLinkApp app, World world, Persona persona, int seed, int stream,
        ConcurrentQueue<string> failures, Action<string> count)
    {
        var templates = FrameTemplates(persona);
        // A closed client finishes its close handshake in the background while the next one works.
        var closing = new List<Task>();
        WsClient? ws = null;
        try
        {
            for (var i = 0; i < FramesPerPersona && failures.Count < MaxReportedFailures; i++)
            {
                var random = new Random(Mix(seed, stream, i));
                var mutator = new Mutator(random, world.Ids, MemberNames);
                var frame = mutator.Mutate(mutator.Pick(templates)(i), out var changes);
                var type = mutator.Chance(0.02) ? WebSocketMessageType.Binary : WebSocketMessageType.Text;
                var what = $"{persona.Name} frame {i} [{changes}] {type} {Preview(frame)}";

                ws ??= await app.ConnectAsync(persona.Token);
                try
                {
                    await ws.SendBytesAsync(frame, type);
                }
                catch (WebSocketException)
                {
                    // The server closed while we sent: judged by the close code below.
                }
                var (answer, close) = await AnswerAsync(ws);
                foreach (var f in ws.Drain())
                    CheckFrame(f, what, failures, count);
                if (answer is not null)
                {
                    count("frame answered");
                    continue;
                }
                if (close is { } code && (code is CloseCodes.Unauthorized or CloseCodes.TooLarge or CloseCodes.TooSlow or CloseCodes.GoingAway ||
                    (code == (int)WebSocketCloseStatus.InvalidPayloadData && type == WebSocketMessageType.Text && !Utf8.IsValid(frame))))
                    count($"frame closed {code}");
                else
                    failures.Enqueue($"{what}: {(close is null ? "no answer and no close" : close == -1 ? $"dropped without a close code ({ws.ClosedAsync(Timeout.InfiniteTimeSpan).Result.Reason})" : $"closed with {close}")}");
                closing.Add(ws.DisposeAsync().AsTask());
                ws = null;
            }
        }
        finally
        {
            if (ws is not null)
                closing.Add(ws.DisposeAsync().AsTask());
            await Task.WhenAll(closing);
        }
    }

    /// <summary>The ping's ok after a frame, or the close code if the socket closed first (null code: dropped without one).</summary>
    private static async Task<(JsonElement? Ok, int? Close)> AnswerAsync(WsClient ws)
    {
        var ping = ws.RequestAsync(new { type = "ping" });
        var closed = ws.ClosedAsync(Timeout.InfiniteTimeSpan);
        using var timeout = new CancellationTokenSource();
        var first = await Task.WhenAny(ping, closed, Task.Delay(WsClient.Timeout, timeout.Token));
        await timeout.CancelAsync();
        if (first == ping && ping.IsCompletedSuccessfully)
            return (ping.Result, null);
        if (first == ping || first == closed)
        {
            // The ping failed to send on a closing socket, or the close arrived: wait for its code.
            var done = await Task.WhenAny(closed, Task.Delay(TimeSpan.FromSeconds(10)));
            return done == closed ? (null, closed.Result.Code ?? -1) : (null, null);
        }
        return (null, null);
    }

    private static void CheckFrame(JsonElement frame, string what, ConcurrentQueue<string> failures, Action<string> count)
    {
        var type = frame.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "(none)";
        if (type == "error")
        {
            var code = frame.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            if (code is null || !ProtocolCodes.Contains(code) || code == ErrorCodes.Internal)
                failures.Enqueue($"{what}: error frame {frame}");
            else
                count($"frame error {code}");
        }
        else if (type == "ok")
        {
            count("frame ok");
        }
        else if (!PushTypes.Contains(type))
        {
            failures.Enqueue($"{what}: unexpected frame {frame}");
        }
    }

    /// <summary>The first frame of a connection, broken: it signs in (ready) or the socket closes with 4001, 4008 or 1007.</summary>
    private static async Task FuzzAuthFramesAsync(StoreLinkApp app, World world, int seed, ConcurrentQueue<string> failures, Action<string> count)
    {
        string[] tokens = [world.Tokens.VisitorA, world.Tokens.Agent, world.Tokens.Franchise];
        var closing = new List<Task>();
        for (var i = 0; i < AuthFrameCases && failures.Count < MaxReportedFailures; i++)
        {
            var random = new Random(Mix(seed, 2, i));
            var mutator = new Mutator(random, world.Ids, MemberNames);
            var frame = mutator.Mutate(new JsonObject { ["type"] = "auth", ["token"] = mutator.Pick(tokens) }, out var changes);
            var type = mutator.Chance(0.05) ? WebSocketMessageType.Binary : WebSocketMessageType.Text;
            var what = $"auth frame {i} [{changes}] {type} {Preview(frame)}";
            var ws = await WsClient.ConnectAsync(app.ServerUri);
            var (ok, outcome) = await AuthVerdictAsync(ws, frame, type);
            if (ok)
                count(outcome);
            else
                failures.Enqueue($"{what}: {outcome}");
            // The close handshake finishes in the background while the next connection works.
            closing.Add(ws.DisposeAsync().AsTask());
        }
        await Task.WhenAll(closing);
    }

    /// <summary>What became of a first frame: ready, or a protocol close code (ok), or anything else.</summary>
    private static async Task<(bool Ok, string Outcome)> AuthVerdictAsync(WsClient ws, byte[] frame, WebSocketMessageType type)
    {
        try
        {
            await ws.SendBytesAsync(frame, type);
        }
        catch (WebSocketException)
        {
        }
        var next = ws.NextAsync(_ => true);
        var closed = ws.ClosedAsync(Timeout.InfiniteTimeSpan);
        var first = await Task.WhenAny(next, closed, Task.Delay(WsClient.Timeout));
        if (first == next && next.IsCompletedSuccessfully)
            return next.Result.GetProperty("type").GetString() == "ready" ? (true, "auth ready") : (false, $"answered {next.Result}");
        if (first == next)
            first = await Task.WhenAny(closed, Task.Delay(TimeSpan.FromSeconds(10)));
        if (first != closed)
            return (false, "no answer and no close");
        var (code, reason) = closed.Result;
        var ok = code is CloseCodes.Unauthorized or CloseCodes.TooLarge ||
            (code == (int)WebSocketCloseStatus.InvalidPayloadData && type == WebSocketMessageType.Text && !Utf8.IsValid(frame));
        return ok ? (true, $"auth closed {code}") : (false, $"closed with {code?.ToString() ?? "no code"} ({reason})");
    }

    private enum Vanish { BeforeAuth, MidAuthFrame, AfterGarbage, MidFrame, MidLargeFrame, DuringSync, AfterPingFlood, AfterBadUtf8, WithoutReading }

    /// <summary>A client that does something half-way and then disappears without a close handshake.</summary>
    private static async Task VanishAsync(StoreLinkApp app, World world, Vanish how, Random random)
    {
        var mutator = new Mutator(random, world.Ids, MemberNames);
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(WsClient.Timeout);
        await socket.ConnectAsync(new UriBuilder(app.ServerUri) { Scheme = "ws", Path = "/v1/ws" }.Uri, timeout.Token);
        var auth = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { type = "auth", token = mutator.Pick([world.Tokens.VisitorA, world.Tokens.Agent, world.Tokens.Admin]) }));
        var garbage = mutator.Mutate(new JsonObject { ["type"] = "send", ["rid"] = "v", ["conversation_id"] = world.ConversationA, ["client_msg_id"] = "v", ["kind"] = "text", ["body"] = new JsonObject { ["text"] = "x" } }, out _);
        async Task SignInAsync()
        {
            await socket.SendAsync(auth, WebSocketMessageType.Text, true, timeout.Token);
            var buffer = new byte[64 * 1024];
            await socket.ReceiveAsync(buffer, timeout.Token);
        }
        switch (how)
        {
            case Vanish.BeforeAuth:
                break;
            case Vanish.MidAuthFrame:
                await socket.SendAsync(auth.AsMemory(0, auth.Length / 2), WebSocketMessageType.Text, false, timeout.Token);
                break;
            case Vanish.AfterGarbage:
                await SignInAsync();
                await socket.SendAsync(garbage, WebSocketMessageType.Text, true, timeout.Token);
                break;
            case Vanish.MidFrame:
                await SignInAsync();
                await socket.SendAsync(garbage.AsMemory(0, garbage.Length / 2), WebSocketMessageType.Text, false, timeout.Token);
                break;
            case Vanish.MidLargeFrame:
                await SignInAsync();
                await socket.SendAsync(Encoding.UTF8.GetBytes("{\"type\":\"ping\",\"rid\":\"" + new string('x', 60_000)), WebSocketMessageType.Text, false, timeout.Token);
                break;
            case Vanish.DuringSync:
                await SignInAsync();
                for (var i = 0; i < 5; i++)
                    await socket.SendAsync(Encoding.UTF8.GetBytes($"{{\"type\":\"sync\",\"rid\":\"s{i}\",\"positions\":{{\"{world.ConversationA}\":0}}}}"), WebSocketMessageType.Text, true, timeout.Token);
                break;
            case Vanish.AfterPingFlood:
                await SignInAsync();
                for (var i = 0; i < 200; i++)
                    await socket.SendAsync(Encoding.UTF8.GetBytes($"{{\"type\":\"ping\",\"rid\":\"p{i}\"}}"), WebSocketMessageType.Text, true, timeout.Token);
                break;
            case Vanish.AfterBadUtf8:
                await SignInAsync();
                await socket.SendAsync(new byte[] { 0x7B, 0xC3, 0x28, 0xFF, 0x7D }, WebSocketMessageType.Text, true, timeout.Token);
                break;
            case Vanish.WithoutReading:
                await socket.SendAsync(auth, WebSocketMessageType.Text, true, timeout.Token);
                await socket.SendAsync(garbage, WebSocketMessageType.Text, true, timeout.Token);
                break;
        }
        if (random.Next(2) == 0)
            await Task.Delay(random.Next(50));
        socket.Abort();
        socket.Dispose();
    }

    private static async Task<bool> DrainsAsync(ConnectionRegistry registry)
    {
        var deadline = Stopwatch.StartNew();
        while (registry.Count > 0 && deadline.Elapsed < TimeSpan.FromSeconds(5))
            await Task.Delay(50);
        return registry.Count == 0;
    }

    // ---- the demo data the corpus points at ----

    private sealed record TokenSet(string VisitorA, string VisitorF, string Agent, string Manager, string Admin, string Franchise, string ApiKey);

    /// <summary>Real ids and signed-in callers of both demo organizations, made over the API as clients make them.</summary>
    private sealed record World(
        TokenSet Tokens, HttpClient VisitorA, string IdentityToken,
        string ConversationA, string NotesA, string ConversationB, string ConversationF, string Group, string Direct,
        string MessageA, string MessageAgent, string MessageF, string AttachmentA, string AttachmentAgent,
        string StoreDigital, string StoreBags, string StoreShoes, string StoreFranchise,
        string AgentId, string ManagerId, string AdminId, string FranchiseAgentId, string CustomerId, string ApiClientId)
    {
        /// <summary>Every real id, of both organizations: what an id-swapping mutation picks from.</summary>
        public IReadOnlyList<string> Ids =>
        [
            ConversationA, NotesA, ConversationB, ConversationF, Group, Direct, MessageA, MessageAgent, MessageF, AttachmentA, AttachmentAgent,
            StoreDigital, StoreBags, StoreShoes, StoreFranchise, AgentId, ManagerId, AdminId, FranchiseAgentId, CustomerId, ApiClientId,
            "cnv_00000000000000000000000000", "", " ", "demo-digital", "demo-franchise", new string('z', 300),
        ];

        public IReadOnlyList<Persona> Personas =>
        [
            new("visitor", Tokens.VisitorA, ConversationA, MessageA, AttachmentA, ConversationF),
            new("agent", Tokens.Agent, ConversationA, MessageAgent, AttachmentAgent, NotesA),
            new("admin", Tokens.Admin, ConversationB, MessageA, AttachmentAgent, Group),
            new("franchise", Tokens.Franchise, ConversationF, MessageF, AttachmentA, ConversationA),
        ];

        public static async Task<World> PrepareAsync(StoreLinkApp app)
        {
            var (visitorA, conversationA) = await MessagingTests.OpenAsync(app, "demo-digital");
            var (_, conversationB) = await MessagingTests.OpenAsync(app, "demo-shoes");
            var (visitorF, conversationF) = await MessagingTests.OpenAsync(app, "demo-franchise");
            var agent = await app.LoginAsync("agent.digital@demo.local");
            var manager = await app.LoginAsync("manager.digital@demo.local");
            var admin = await app.LoginAsync("admin@demo.local");
            var franchise = await app.LoginAsync("agent@franchise.demo.local");
            async Task<string> IdOf(HttpClient client) => (await client.GetJsonAsync("/v1/me")).Str("id");
            var (agentId, managerId) = (await IdOf(agent), await IdOf(manager));

            var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray()
                .ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);
            var franchiseStore = (await franchise.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single().GetProperty("id").GetString()!;
            var messageA = (await MessagingTests.SendAsync(visitorA, conversationA, "你好")).Str("id");
            var messageAgent = (await MessagingTests.SendAsync(agent, conversationA, "您好")).Str("id");
            var messageF = (await MessagingTests.SendAsync(visitorF, conversationF, "hi")).Str("id");
            var group = (await agent.PostJsonAsync("/v1/conversations", new { kind = "group", name = "fuzz", member_ids = new[] { managerId } })).Str("id");
            var direct = (await agent.PostJsonAsync("/v1/conversations", new { kind = "direct", user_id = managerId })).Str("id");
            var created = await admin.PostJsonAsync("/v1/api-clients", new { name = "fuzz", permissions = Permissions.All });
            var customerId = (await admin.GetJsonAsync("/v1/customers?q=C1001")).Json.EnumerateArray().First().GetProperty("id").GetString()!;
            var identityToken = Jwt.Sign(new { sub = "fuzz-customer", name = "模糊", exp = Jwt.In(TimeSpan.FromHours(1)) }, DemoSeed.RetailIdentitySecret);

            return new World(
                new TokenSet(StoreLinkApp.TokenOf(visitorA), StoreLinkApp.TokenOf(visitorF), StoreLinkApp.TokenOf(agent), StoreLinkApp.TokenOf(manager),
                    StoreLinkApp.TokenOf(admin), StoreLinkApp.TokenOf(franchise), created.Str("key")),
                visitorA, identityToken,
                conversationA, (await agent.GetJsonAsync($"/v1/conversations/{conversationA}")).Str("notes_id"), conversationB, conversationF, group, direct,
                messageA, messageAgent, messageF, await UploadAsync(visitorA), await UploadAsync(agent),
                stores["demo-digital"], stores["demo-bags"], stores["demo-shoes"], franchiseStore,
                agentId, managerId, await IdOf(admin), await IdOf(franchise), customerId, created.Json.GetProperty("api_client").GetProperty("id").GetString()!);
        }

        private static async Task<string> UploadAsync(HttpClient client)
        {
            using var content = new MultipartFormDataContent();
            var file = new ByteArrayContent([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, .. "IHDR"u8, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
            file.Headers.ContentType = new("image/png");
            content.Add(file, "file", "fuzz.png");
            using var response = await client.PostAsync("/v1/attachments", content);
            Assert.Equal(201, (int)response.StatusCode);
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        }
    }

    // ---- seeds and reports ----

    /// <summary>A seed per stream and case (splitmix64), so each case is the same whatever ran before it or beside it.</summary>
    private static int Mix(int seed, int stream, int index)
    {
        var z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)stream << 40 ^ (uint)index;
        z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ z >> 27) * 0x94D049BB133111EBUL;
        return (int)(z ^ z >> 31);
    }

    private static RestTemplate PickWeighted(Random random, List<RestTemplate> templates)
    {
        var n = random.Next(templates.Sum(t => t.Weight));
        foreach (var template in templates)
        {
            if (n < template.Weight)
                return template;
            n -= template.Weight;
        }
        return templates[^1];
    }

    private static string Failures(int seed, IEnumerable<string> failures) =>
        $"Seed {seed} (replay with STORELINK_FUZZ_SEED={seed}):\n{string.Join("\n", failures.Take(MaxReportedFailures))}";

    private static void Report(string what, int seed, Stopwatch clock, IEnumerable<string> counts) =>
        TestContext.Current.TestOutputHelper?.WriteLine($"{what} fuzz, seed {seed}, {clock.Elapsed.TotalSeconds:0.0} s: {string.Join(", ", counts)}");

    private static string Preview(string text, int max = 300) => text.Length <= max ? text : $"{text[..max]}…({text.Length} chars)";

    /// <summary>Bytes as text for a failure message: printable ASCII as is, everything else as \xNN.</summary>
    private static string Preview(byte[]? bytes)
    {
        if (bytes is null)
            return "(none)";
        var text = new StringBuilder();
        foreach (var b in bytes.Take(300))
            text.Append(b is >= 0x20 and < 0x7F ? ((char)b).ToString() : $"\\x{b:X2}");
        return bytes.Length > 300 ? $"{text}…({bytes.Length} bytes)" : text.ToString();
    }
}
