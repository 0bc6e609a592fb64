using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>The customer panel asks the store's system for the customer's profile: signed, cached, and never waited for long.</summary>
public sealed class ConnectorProfileTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static object Profile(int vip) => new
    {
        customer = new { name = "陈女士", phone = "13800138000", vip_level = vip, attributes = new { card = "金卡" } },
        orders = new[] { new { order_no = "SO-0901", item = "旅行箱 24 寸", amount = "699.00", currency = "CNY", status = "SIGNED", purchased_at = "2026-09-01T10:00:00Z" } },
    };

    [Theory, MemberData(nameof(Databases))]
    public async Task The_customer_panel_shows_the_systems_profile_from_a_cache_and_a_slow_answer_is_pending_until_it_lands(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, ConnectorPollingTests.Settings(("Connectors:ProfileWait", "00:00:00.500")));
        await using var system = await StoreSystem.StartAsync();
        var vip = 3;
        Task? slow = null; // while set, the system holds its answer until the test lets it go
        system.Customers = (id, _) => id == "C-88" ? new SystemAnswer(200, Profile(vip), Until: slow) : new SystemAnswer(404);
        var admin = await app.LoginAsync("admin@demo.local");
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var (_, conversationId) = await WebhookTests.WorkflowsCustomerAsync(app, "C-88", "demo-bags");
        async Task<JsonElement?> ExternalAsync(string conversation)
        {
            var panel = await agent.GetJsonAsync($"/v1/desk/conversations/{conversation}/customer");
            Assert.Equal(200, panel.Status);
            return panel.Json.TryGetProperty("external", out var external) ? external : null;
        }
        // What the panel shows once the system's answer is in (a loaded machine may take longer than the panel waits).
        async Task<JsonElement> SettledAsync(string conversation)
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                var external = (await ExternalAsync(conversation))!.Value;
                if (external.GetProperty("status").GetString() != "pending")
                    return external;
                Assert.True(DateTime.UtcNow < deadline, external.ToString());
                await Task.Delay(200);
            }
        }

        // Without a connector that looks profiles up, the panel is StoreLink's own.
        Assert.Null(await ExternalAsync(conversationId));
        var (connector, secret) = await Hooks.ConnectorAsync(admin, new { base_url = system.BaseUrl.ToString(), profile_lookup = true });
        system.Secret = secret;
        system.Clock = app.Clock.GetUtcNow;

        var external = await SettledAsync(conversationId);
        Assert.Equal("ok", external.GetProperty("status").GetString());
        Assert.Equal((3, "金卡"), (external.GetProperty("customer").GetProperty("vip_level").GetInt32(), external.GetProperty("customer").GetProperty("attributes").GetProperty("card").GetString()));
        Assert.Equal("SO-0901", external.GetProperty("orders")[0].GetProperty("order_no").GetString());
        var firstFetch = external.GetProperty("fetched_at").GetDateTimeOffset();
        var call = Assert.Single(system.CallsTo("customers"));
        Assert.Equal(("GET", "/storelink/customers/C-88", true, true), (call.Method, call.Path, call.SignatureValid, call.TimestampValid));

        // From the cache while it is fresh (five minutes by default).
        vip = 4;
        app.Clock.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(3, (await ExternalAsync(conversationId))!.Value.GetProperty("customer").GetProperty("vip_level").GetInt32());
        Assert.Single(system.CallsTo("customers"));

        // Expired, and the system is slow now: the panel does not wait for it — pending, with what was known — and the
        // answer lands in the cache for the next look.
        // The answer is held until the panel has answered "pending", however slow the machine is.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        slow = release.Task;
        app.Clock.Advance(TimeSpan.FromMinutes(2));
        var pending = (await ExternalAsync(conversationId))!.Value;
        Assert.Equal(("pending", 3), (pending.GetProperty("status").GetString(), pending.GetProperty("customer").GetProperty("vip_level").GetInt32()));
        await system.WaitForAsync(s => s.CallsTo("customers").Count == 2);
        Assert.Equal("pending", (await ExternalAsync(conversationId))!.Value.GetProperty("status").GetString());
        release.SetResult();
        var landed = await SettledAsync(conversationId);
        Assert.Equal("ok", landed.GetProperty("status").GetString());
        Assert.Equal(4, landed.GetProperty("customer").GetProperty("vip_level").GetInt32());
        Assert.True(landed.GetProperty("fetched_at").GetDateTimeOffset() > firstFetch);
        Assert.Equal(2, system.CallsTo("customers").Count); // the looks while it was on its way asked once

        // A customer the system does not know, and a system that fails, are unavailable; a visitor has no external id.
        var (_, unknownConversation) = await WebhookTests.WorkflowsCustomerAsync(app, "C-99", "demo-bags");
        Assert.Equal("unavailable", (await SettledAsync(unknownConversation)).GetProperty("status").GetString());
        system.Customers = (_, _) => new SystemAnswer(500);
        var (_, failingConversation) = await WebhookTests.WorkflowsCustomerAsync(app, "C-77", "demo-bags");
        Assert.Equal("unavailable", (await SettledAsync(failingConversation)).GetProperty("status").GetString());
        var visitor = await app.VisitorAsync("demo-bags");
        var visit = (await visitor.PostJsonAsync("/v1/conversations", new { store_key = "demo-bags" })).Str("id");
        Assert.Null(await ExternalAsync(visit));

        // Turned off, the panel stops asking.
        Assert.Equal(200, (await admin.PatchJsonAsync($"/v1/connectors/{connector}", new { profile_lookup = false })).Status);
        Assert.Null(await ExternalAsync(conversationId));
        Assert.Empty(app.Log.Errors);
    }
}
