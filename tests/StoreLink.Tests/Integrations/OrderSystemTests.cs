using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrderSystem;
using StoreLink.Server.Accounts;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>
/// The reference order system (samples/OrderSystem) and StoreLink side by side, each on its own loopback port and
/// database, talking only through StoreLink's public API, signed hooks, commands and webhooks.
/// </summary>
public sealed class OrderSystemTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static readonly Dictionary<string, string?> ServerSettings = new() { ["Webhooks:AllowPrivateTargets"] = "true" };

    /// <summary>The order system on a port of its own, with its own database, on the server's clock.</summary>
    private sealed class OrderSystemHost : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _directory;

        private OrderSystemHost(WebApplication app, string directory, Uri uri)
        {
            _app = app;
            _directory = directory;
            Uri = uri;
            Http = new HttpClient { BaseAddress = uri };
        }

        public Uri Uri { get; }
        public HttpClient Http { get; }
        public OrderSystemOptions Options => _app.Services.GetRequiredService<IOptions<OrderSystemOptions>>().Value;
        public T Service<T>() where T : notnull => _app.Services.GetRequiredService<T>();

        public static async Task<OrderSystemHost> StartAsync(StoreLinkApp storeLink, bool polling = false, params string[] settings)
        {
            var directory = Path.Combine(TestDatabases.Root, "ordersystem-" + Guid.NewGuid().ToString("N")[..8]);
            var app = OrderSystemApp.Build(
                ["--urls", "http://127.0.0.1:0", "--OrderSystem:DataDirectory", directory, "--OrderSystem:StoreLinkUrl", storeLink.ServerUri.ToString(),
                 "--OrderSystem:PollInterval", "00:00:00.200", "--OrderSystem:CommandDelay", "00:00:00.500", "--Logging:LogLevel:Default", "Warning", .. settings],
                builder => builder.Services.AddSingleton<TimeProvider>(storeLink.Clock));
            await app.Services.GetRequiredService<Database>().CreateAsync();
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var host = new OrderSystemHost(app, directory, new Uri(address));
            await host.Service<Setup>().RunAsync("admin@demo.local", "demo1234", host.Uri, polling);
            return host;
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await _app.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task<(HttpClient Customer, string ConversationId)> CustomerAsync(StoreLinkApp app, string sub)
    {
        var token = Jwt.Sign(new { sub, exp = TestClock.Now.AddYears(1).ToUnixTimeSeconds() }, DemoSeed.RetailIdentitySecret);
        var auth = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-bags", identity_token = token });
        Assert.Equal(200, auth.Status);
        var customer = app.WithToken(auth.Json.GetProperty("access_token").GetString()!);
        var opened = await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-bags" });
        return (customer, opened.Str("id"));
    }

    private static async Task<JsonElement> CreateOrderAsync(OrderSystemHost orders, string customer, string address)
    {
        using var response = await orders.Http.PostAsJsonAsync("/api/orders", new
        {
            customer = new { external_id = customer, name = "演示顾客二", phone = "13800000002" }, title = "托特包 ×1", amount = "299.00", address,
        }, StoreLink.Protocol.ProtocolJson.Options);
        Assert.Equal(201, (int)response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task SetStatusAsync(OrderSystemHost orders, string orderNo, string status)
    {
        using var response = await orders.Http.PostAsJsonAsync($"/api/orders/{orderNo}/status", new { status });
        Assert.Equal(200, (int)response.StatusCode);
    }

    private static async Task<JsonElement> OrderAsync(OrderSystemHost orders, string orderNo) =>
        await orders.Http.GetFromJsonAsync<JsonElement>($"/api/orders/{orderNo}");

    /// <summary>Waits (generously: CI has two cores) until <paramref name="check"/> holds; fails with what was seen last.</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> check, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        T value;
        while (!check(value = await read()))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{what} did not happen; last seen: {value}");
            await Task.Delay(100);
        }
        return value;
    }

    private static async Task<List<JsonElement>> MessagesAsync(HttpClient client, string conversationId) =>
        (await client.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray().ToList();

    /// <summary>The customer-facing state on each card of the conversation, oldest first.</summary>
    private static IEnumerable<string> CardStates(IEnumerable<JsonElement> messages) => messages
        .Where(m => m.GetProperty("kind").GetString() == "card" && !m.GetProperty("recalled").GetBoolean())
        .Select(m => m.GetProperty("body").GetProperty("fields")[0].GetProperty("value").GetString()!);

    private static IEnumerable<string> Texts(IEnumerable<JsonElement> messages) => messages
        .Where(m => m.GetProperty("kind").GetString() == "system").Select(m => m.GetProperty("body").GetProperty("text").GetString()!);

    private static async Task<JsonElement> WorkItemAsync(HttpClient staff, string customerId, string orderNo) =>
        await EventuallyAsync(async () => (await staff.GetJsonAsync($"/v1/work-items?customer_id={customerId}")).Json.EnumerateArray()
                .FirstOrDefault(i => i.TryGetProperty("external_ref", out var r) && r.ValueKind == JsonValueKind.Object && r.GetProperty("id").GetString() == orderNo),
            i => i.ValueKind == JsonValueKind.Object, $"the work item of {orderNo}");

    [Theory, MemberData(nameof(Databases))]
    public async Task An_order_reaches_the_customers_chat_and_the_address_change_goes_back_as_a_command(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db, ServerSettings);
        await using var orders = await OrderSystemHost.StartAsync(app);
        var (customer, conversationId) = await CustomerAsync(app, "C1002");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        var agent = await app.LoginAsync("agent.bags@demo.local");

        // An order created there appears here: a work item driven by the connector, and its card in the chat.
        var orderNo = (await CreateOrderAsync(orders, "C1002", "上海市徐汇区漕溪北路 1 号")).GetProperty("order_no").GetString()!;
        var item = await WorkItemAsync(agent, customerId, orderNo);
        Assert.Equal(("order", "order-system", "unpaid"), (item.GetProperty("kind").GetString(), item.GetProperty("external_ref").GetProperty("system").GetString(), item.GetProperty("state").GetString()));
        Assert.Equal("上海市徐汇区漕溪北路 1 号", item.GetProperty("fields").GetProperty("address").GetString());
        await EventuallyAsync(() => MessagesAsync(customer, conversationId), m => CardStates(m).Contains("待支付"), "the 待支付 card");

        // Its status changes arrive as cards.
        await SetStatusAsync(orders, orderNo, "PAID");
        // Cards show the state's customer label (已支付，等待配货), not the staff label (已支付待配货).
        await EventuallyAsync(() => MessagesAsync(customer, conversationId), m => CardStates(m).Contains("已支付，等待配货"), "the 已支付，等待配货 card");

        // The customer changes the address from the card: a command to the order system, which carries it out.
        var itemId = item.GetProperty("id").GetString()!;
        var changed = await customer.PostJsonAsync($"/v1/work-items/{itemId}/actions", new { action = "change_address", action_id = "addr-1", address = "上海市静安区南京西路 100 号" });
        Assert.True(changed.Status is 200 or 202, changed.ToString());
        await EventuallyAsync(() => OrderAsync(orders, orderNo), o => o.GetProperty("address").GetString() == "上海市静安区南京西路 100 号", "the address change in the order system");
        await EventuallyAsync(async () => (await agent.GetJsonAsync($"/v1/work-items/{itemId}")).Json,
            i => i.GetProperty("fields").GetProperty("address").GetString() == "上海市静安区南京西路 100 号", "the new address on the work item");
        await EventuallyAsync(() => MessagesAsync(customer, conversationId), m => Texts(m).Any(t => t.Contains("南京西路 100 号")), "the confirmation in the chat");
        // A double tap does nothing twice: one command, one change.
        Assert.True((await customer.PostJsonAsync($"/v1/work-items/{itemId}/actions", new { action = "change_address", action_id = "addr-1", address = "上海市静安区南京西路 100 号" })).Status is 200 or 202);
        Assert.Single(await orders.Service<Commands>().ListAsync());

        // The order leaves the warehouse while its event is still on the way: the command is refused there, and the
        // customer reads why in plain words.
        orders.Options.PushEvents = false;
        await SetStatusAsync(orders, orderNo, "SHIPPED");
        var late = await customer.PostJsonAsync($"/v1/work-items/{itemId}/actions", new { action = "change_address", action_id = "addr-2", address = "北京市朝阳区建国路 1 号" });
        Assert.True(late.Status is 200 or 202 or 409, late.ToString());
        await EventuallyAsync(() => MessagesAsync(customer, conversationId), m => Texts(m).Any(t => t.Contains("订单已发货，无法修改收货地址")), "the refusal in the chat");
        Assert.Equal("上海市静安区南京西路 100 号", (await OrderAsync(orders, orderNo)).GetProperty("address").GetString());
        orders.Options.PushEvents = true;
        orders.Service<EventPusher>().Wake();
        await EventuallyAsync(() => MessagesAsync(customer, conversationId), m => CardStates(m).Contains("已发货"), "the 已发货 card");
        Assert.Equal("上海市静安区南京西路 100 号", (await agent.GetJsonAsync($"/v1/work-items/{itemId}")).Json.GetProperty("fields").GetProperty("address").GetString());

        // The agent's customer panel shows what the order system holds for the customer; StoreLink's webhooks reached it.
        var panel = await EventuallyAsync(async () => (await agent.GetJsonAsync($"/v1/desk/conversations/{conversationId}/customer")).Json,
            p => p.TryGetProperty("external", out var e) && e.GetProperty("status").GetString() == "ok", "the external profile");
        Assert.Contains(panel.GetProperty("external").GetProperty("orders").EnumerateArray(), o => o.GetProperty("order_no").GetString() == orderNo);
        var webhookTypes = await EventuallyAsync(async () =>
            {
                await using var c = await orders.Service<Database>().OpenAsync();
                return (await Dapper.SqlMapper.QueryAsync<string>(c, "SELECT type FROM storelink_events")).ToList();
            }, t => t.Contains("customer_action.taken") && t.Contains("work_item.state_changed"), "StoreLink's webhooks at the order system");
        Assert.NotEmpty(webhookTypes);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_polling_connector_fetches_the_changes_and_a_command_answered_later_is_applied_once(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db, ServerSettings);
        await using var orders = await OrderSystemHost.StartAsync(app, polling: true, "--OrderSystem:PushEvents", "false", "--OrderSystem:AnswerCommandsLater", "true");
        var (customer, conversationId) = await CustomerAsync(app, "C1002");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        var agent = await app.LoginAsync("agent.bags@demo.local");

        var orderNo = (await CreateOrderAsync(orders, "C1002", "杭州市西湖区文三路 8 号")).GetProperty("order_no").GetString()!;
        await SetStatusAsync(orders, orderNo, "PAID");
        await SetStatusAsync(orders, orderNo, "PICKING");
        var item = await WorkItemAsync(agent, customerId, orderNo);
        var itemId = item.GetProperty("id").GetString()!;
        await EventuallyAsync(async () => (await agent.GetJsonAsync($"/v1/work-items/{itemId}")).Json, i => i.GetProperty("state").GetString() == "picking", "the polled state");

        var changed = await customer.PostJsonAsync($"/v1/work-items/{itemId}/actions", new { action = "change_address", action_id = "later-1", address = "杭州市滨江区江南大道 3 号" });
        Assert.True(changed.Status is 200 or 202, changed.ToString());
        await EventuallyAsync(() => OrderAsync(orders, orderNo), o => o.GetProperty("address").GetString() == "杭州市滨江区江南大道 3 号", "the change in the order system");
        await EventuallyAsync(async () => (await agent.GetJsonAsync($"/v1/work-items/{itemId}")).Json,
            i => i.GetProperty("fields").GetProperty("address").GetString() == "杭州市滨江区江南大道 3 号", "the reported result on the work item");
        // The order system marks its report once StoreLink has answered it, which may come after the item shows the change.
        var command = Assert.Single(await EventuallyAsync(() => orders.Service<Commands>().ListAsync(), c => c.Count == 1 && c[0].ReportedAt is not null, "the reported result"));
        Assert.Equal("done", command.Status);
        await EventuallyAsync(() => MessagesAsync(customer, conversationId), m => Texts(m).Any(t => t.Contains("江南大道 3 号")), "the confirmation in the chat");
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Status_changes_made_at_night_reach_the_chat_as_one_card_in_the_morning(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db, ServerSettings);
        await using var orders = await OrderSystemHost.StartAsync(app);
        var (customer, conversationId) = await CustomerAsync(app, "C1002");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");

        // 22:00 in Shanghai: the bag store's quiet hours (21:00–08:30). The order system works on; its events arrive
        // and are applied, but the customer is not woken.
        app.Clock.AdvanceToLocal(new TimeOnly(22, 0));
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var orderNo = (await CreateOrderAsync(orders, "C1002", "南京市鼓楼区中山路 1 号")).GetProperty("order_no").GetString()!;
        await SetStatusAsync(orders, orderNo, "PAID");
        await SetStatusAsync(orders, orderNo, "PICKING");
        var itemId = (await WorkItemAsync(agent, customerId, orderNo)).GetProperty("id").GetString()!;
        await EventuallyAsync(async () => (await agent.GetJsonAsync($"/v1/work-items/{itemId}")).Json, i => i.GetProperty("state").GetString() == "picking", "the night's last state");
        var notifier = app.Services.GetRequiredService<StoreLink.Server.Workflows.Notifier>();
        await notifier.DeliverDueAsync(default);
        Assert.Empty(CardStates(await MessagesAsync(customer, conversationId)));

        // At 08:31 the three changes arrive as one card with the latest state.
        app.Clock.AdvanceToLocal(new TimeOnly(8, 31));
        await notifier.DeliverDueAsync(default);
        var cards = await EventuallyAsync(async () => CardStates(await MessagesAsync(customer, conversationId)).ToList(), c => c.Count > 0, "the morning card");
        Assert.Equal("配货中", Assert.Single(cards));
    }
}
