using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>
/// Polling connectors against a real changes feed on loopback: pages, the persisted cursor, failures retried at the
/// next interval, a poll cut off between pages, and two nodes sharing one connector.
/// </summary>
public sealed class ConnectorPollingTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    public static Dictionary<string, string?> Settings(params (string Key, string Value)[] more)
    {
        var settings = WebhookTests.Settings(("Connectors:LoopInterval", "00:00:00.200"));
        foreach (var (key, value) in more)
            settings[key] = value;
        return settings;
    }

    public static object Page(string? next, bool more, params object[] events) => new { events, next_cursor = next, has_more = more };

    public static object Upsert(string id, string order, string status, long version) =>
        Hooks.Event(id, "order.upserted", Hooks.Order(order, status), version: version);

    /// <summary>A polling connector of the bag store reading <paramref name="system"/>'s feed every five seconds.</summary>
    public static async Task<string> PollingConnectorAsync(StoreLinkApp app, HttpClient admin, StoreSystem system)
    {
        var (id, secret) = await Hooks.ConnectorAsync(admin, new { base_url = system.BaseUrl.ToString(), mode = "polling", poll_interval_seconds = 5 });
        system.Secret = secret;
        system.Clock = app.Clock.GetUtcNow;
        return id;
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_polling_connector_reads_the_feed_page_by_page_applies_each_event_once_and_retries_a_failure_at_the_next_interval(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings());
        await using var system = await StoreSystem.StartAsync();
        var failing = false;
        system.Changes = (cursor, _) => failing ? new SystemAnswer(500) : cursor switch
        {
            null => new SystemAnswer(200, Page("c1", true, Upsert("p-1", "SO-5001", "PAID", 1), Upsert("p-2", "SO-5002", "UNPAID", 1))),
            "c1" => new SystemAnswer(200, Page("c2", false, Upsert("p-3", "SO-5001", "SHIPPED", 2), new { id = "p-bad", type = "order.upserted" }, Upsert("p-1", "SO-5001", "PAID", 1))),
            "c2" => new SystemAnswer(200, Page("c3", false, Upsert("p-4", "SO-5002", "PAID", 2))),
            _ => new SystemAnswer(200, Page(null, false)),
        };
        var admin = await app.LoginAsync("admin@demo.local");
        var connector = await PollingConnectorAsync(app, admin, system);

        await system.WaitForAsync(s => s.CallsTo("changes").Count >= 2);
        var orders = await WaitForOrdersAsync(admin, o => o.Count == 2 && o["SO-5001"] == "shipped" && o["SO-5002"] == "unpaid");
        Assert.All(system.Calls, c => Assert.True(c.SignatureValid && c.TimestampValid, $"{c.Path}{c.Query} not signed"));
        Assert.Equal([null, "c1"], system.CallsTo("changes").Select(c => c.Cursor));
        Assert.All(system.CallsTo("changes"), c => Assert.Contains("limit=100", c.Query));
        Assert.Equal(2, system.CallsTo("changes").Select(c => c.Id).Distinct().Count()); // a fresh webhook-id per request
        var shown = await admin.GetJsonAsync($"/v1/connectors/{connector}");
        Assert.Equal("c2", shown.Str("cursor"));
        Assert.False(shown.Json.TryGetProperty("last_poll_error", out _));
        var log = (await admin.GetJsonAsync($"/v1/connectors/{connector}/events")).Json.EnumerateArray().ToList();
        Assert.Equal(3, log.Count(e => e.GetProperty("status").GetString() == "applied"));
        Assert.Contains(log, e => (e.GetProperty("event_id").GetString(), e.GetProperty("status").GetString()) == ("p-bad", "refused"));
        Assert.Contains(log, e => (e.GetProperty("event_id").GetString(), e.GetProperty("status").GetString()) == ("p-1", "replayed")); // listed again: de-duplicated by id
        Assert.All(log, e => Assert.Equal("poll", e.GetProperty("source").GetString()));

        // Nothing more until the interval has passed (on the server's clock).
        await Task.Delay(800);
        Assert.Equal(2, system.CallsTo("changes").Count);

        // The feed fails: the error is logged on the connector, the cursor stays, and the next interval tries again.
        failing = true;
        app.Clock.Advance(TimeSpan.FromSeconds(6));
        await system.WaitForAsync(s => s.CallsTo("changes").Count == 3);
        var failed = await WaitForConnectorAsync(admin, connector, c => c.TryGetProperty("last_poll_error", out _));
        Assert.Contains("500", failed.GetProperty("last_poll_error").GetString());
        Assert.Equal("c2", failed.GetProperty("cursor").GetString());
        failing = false;
        app.Clock.Advance(TimeSpan.FromSeconds(6));
        await WaitForOrdersAsync(admin, o => o["SO-5002"] == "paid");
        var recovered = await WaitForConnectorAsync(admin, connector, c => !c.TryGetProperty("last_poll_error", out _));
        Assert.Equal("c3", recovered.GetProperty("cursor").GetString());
        Assert.Equal([null, "c1", "c2", "c2"], system.CallsTo("changes").Select(c => c.Cursor));
        Assert.Empty(app.Log.Errors);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_poll_cut_off_between_pages_repeats_that_page_after_the_restart_and_never_skips_one(string db)
    {
        var database = await TestDatabases.CreateAsync(db);
        await using var system = await StoreSystem.StartAsync();
        var hang = new TaskCompletionSource();
        var secondPageCalls = 0;
        system.Changes = (cursor, _) => cursor switch
        {
            null => new SystemAnswer(200, Page("c1", true, Upsert("k-1", "SO-6001", "PAID", 1), Upsert("k-2", "SO-6002", "PAID", 1))),
            // The first node's request for page 2 never gets an answer: the node goes down while it waits.
            "c1" => Interlocked.Increment(ref secondPageCalls) == 1
                ? new SystemAnswer(200, Page("c2", true), Until: hang.Task)
                : new SystemAnswer(200, Page("c2", true, Upsert("k-3", "SO-6003", "PAID", 1), Upsert("k-4", "SO-6001", "SHIPPED", 2))),
            "c2" => new SystemAnswer(200, Page("c3", false, Upsert("k-5", "SO-6004", "UNPAID", 1))),
            _ => new SystemAnswer(200, Page(null, false)),
        };
        string connector;
        await using (var first = new StoreLinkApp(database, settings: Settings(("Connectors:PollTimeout", "00:01:00")), keepDatabase: true))
        {
            first.Start();
            connector = await PollingConnectorAsync(first, await first.LoginAsync("admin@demo.local"), system);
            await system.WaitForAsync(s => s.CallsTo("changes").Any(c => c.Cursor == "c1"));
        }

        await using var second = new StoreLinkApp(database, settings: Settings());
        second.Start();
        system.Clock = second.Clock.GetUtcNow;
        var admin = await second.LoginAsync("admin@demo.local");
        // Page 1 was committed with its cursor before the node went down.
        Assert.Equal("c1", (await admin.GetJsonAsync($"/v1/connectors/{connector}")).Str("cursor"));
        // The first node's lease runs out; then the second node polls from where the first one left off.
        second.Clock.Advance(TimeSpan.FromMinutes(2));
        var orders = await WaitForOrdersAsync(admin, o => o.Count == 4 && o["SO-6001"] == "shipped");
        Assert.Equal(("paid", "paid", "unpaid"), (orders["SO-6002"], orders["SO-6003"], orders["SO-6004"]));
        Assert.Equal([null, "c1", "c1", "c2"], system.CallsTo("changes").Select(c => c.Cursor));
        var log = (await admin.GetJsonAsync($"/v1/connectors/{connector}/events")).Json.EnumerateArray().ToList();
        Assert.Equal(["k-1", "k-2", "k-3", "k-4", "k-5"], log.Where(e => e.GetProperty("status").GetString() == "applied").Select(e => e.GetProperty("event_id").GetString()).Order());
        Assert.Equal(log.Count, log.Select(e => e.GetProperty("event_id").GetString()).Distinct().Count()); // none applied (or even logged) twice
        Assert.Equal("c3", (await admin.GetJsonAsync($"/v1/connectors/{connector}")).Str("cursor"));
        hang.TrySetResult();
    }

    [Fact]
    public async Task Two_nodes_on_one_PostgreSQL_database_poll_one_connector_without_fetching_a_page_or_applying_an_event_twice()
    {
        await TestDatabases.RequirePostgresAsync();
        await using var nodeA = await StoreLinkApp.CreateAsync(TestDatabases.Postgres, Settings());
        await using var nodeB = new StoreLinkApp(nodeA.Database, settings: Settings(), keepDatabase: true);
        nodeB.Start();
        await using var system = await StoreSystem.StartAsync();
        const int pages = 6;
        system.Changes = (cursor, _) =>
        {
            var n = cursor is null ? 0 : int.Parse(cursor[1..]);
            if (n >= pages)
                return new SystemAnswer(200, Page(cursor, false));
            return new SystemAnswer(200, Page($"c{n + 1}", n + 1 < pages,
                Enumerable.Range(0, 3).Select(i => Upsert($"n-{n}-{i}", $"SO-7{n}{i}", "PAID", 1)).ToArray()), Delay: TimeSpan.FromMilliseconds(100));
        };
        var admin = await nodeA.LoginAsync("admin@demo.local");
        var connector = await PollingConnectorAsync(nodeA, admin, system);
        nodeB.Clock.Advance(nodeA.Clock.GetUtcNow() - nodeB.Clock.GetUtcNow());

        await WaitForOrdersAsync(admin, o => o.Count == pages * 3);
        await Task.Delay(1000);
        Assert.Equal(Enumerable.Range(0, pages).Select(n => n == 0 ? null : $"c{n}"), system.CallsTo("changes").Select(c => c.Cursor));
        var log = (await admin.GetJsonAsync($"/v1/connectors/{connector}/events?limit=500")).Json.EnumerateArray().ToList();
        Assert.Equal(pages * 3, log.Count);
        Assert.All(log, e => Assert.Equal("applied", e.GetProperty("status").GetString()));
    }

    /// <summary>Waits for the bag store's orders with an external reference (external id → state) to satisfy <paramref name="done"/>.</summary>
    internal static async Task<Dictionary<string, string>> WaitForOrdersAsync(HttpClient reader, Func<Dictionary<string, string>, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var orders = (await reader.GetJsonAsync("/v1/work-items?kind=order&limit=500")).Json.EnumerateArray()
                .Where(w => w.TryGetProperty("external_ref", out _))
                .ToDictionary(w => w.GetProperty("external_ref").GetProperty("id").GetString()!, w => w.GetProperty("state").GetString()!);
            if (Try(() => done(orders)))
                return orders;
            Assert.True(DateTime.UtcNow < deadline, "The orders did not arrive: " + JsonSerializer.Serialize(orders));
            await Task.Delay(100);
        }
    }

    internal static async Task<JsonElement> WaitForConnectorAsync(HttpClient admin, string connector, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var shown = await admin.GetJsonAsync($"/v1/connectors/{connector}");
            if (done(shown.Json))
                return shown.Json;
            Assert.True(DateTime.UtcNow < deadline, shown.Body);
            await Task.Delay(100);
        }
    }

    private static bool Try(Func<bool> check)
    {
        try
        {
            return check();
        }
        catch (KeyNotFoundException)
        {
            return false;
        }
    }
}
