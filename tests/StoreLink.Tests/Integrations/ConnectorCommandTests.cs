using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>
/// Customer actions that the store's system must carry out go out as signed commands: done at once, accepted and
/// answered later, refused, or failing (slow, 5xx) and retried — told to the customer in plain words, alerted to staff,
/// and applied at most once whatever the retries and late answers.
/// </summary>
public sealed class ConnectorCommandTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private const string NewAddress = "上海市徐汇区漕溪北路 2 号";

    private static Dictionary<string, string?> Settings(string timeout = "00:00:01") => ConnectorPollingTests.Settings(
        ("Connectors:CommandTimeout", timeout), ("Connectors:CommandFirstRetryDelay", "00:00:01"), ("Connectors:CommandMaxRetryDelay", "00:00:04"));

    /// <summary>The bag store with a connector to <paramref name="system"/> that takes commands, and an order of customer C-88 that came from it.</summary>
    private sealed record Shop(HttpClient Admin, HttpClient Customer, string ConversationId, string Connector, string Secret, string ItemId);

    private static async Task<Shop> OpenAsync(StoreLinkApp app, StoreSystem system, string status = "PAID")
    {
        app.Clock.AdvanceToLocal(new TimeOnly(10, 0));
        var admin = await app.LoginAsync("admin@demo.local");
        var (connector, secret) = await Hooks.ConnectorAsync(admin, new { base_url = system.BaseUrl.ToString(), commands = true });
        system.Secret = secret;
        system.Clock = app.Clock.GetUtcNow;
        var (customer, conversationId) = await WebhookTests.WorkflowsCustomerAsync(app, "C-88", "demo-bags");
        var created = await Hooks.SendAsync(app, connector, secret, Hooks.Event("o-1", "order.upserted", Hooks.Order("SO-8001", status), version: 1));
        Assert.Equal(200, created.Status);
        return new Shop(admin, customer, conversationId, connector, secret, created.Str("work_item_id"));
    }

    private static Task<ApiResponse> ChangeAddressAsync(Shop shop, string address = NewAddress) =>
        shop.Customer.PostJsonAsync($"/v1/work-items/{shop.ItemId}/actions", new { action = "change_address", address });

    private static async Task<string?> AddressAsync(Shop shop) =>
        (await shop.Admin.GetJsonAsync($"/v1/work-items/{shop.ItemId}")).Json.GetProperty("fields").TryGetProperty("address", out var a) ? a.GetString() : null;

    /// <summary>The system messages of the customer's chat, in order.</summary>
    private static async Task<List<string>> ToldAsync(Shop shop) =>
        (await shop.Customer.GetJsonAsync($"/v1/conversations/{shop.ConversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray()
            .Where(m => m.GetProperty("kind").GetString() == "system").Select(m => m.GetProperty("body").GetProperty("text").GetString()!).ToList();

    private static async Task<List<string>> WaitToldAsync(Shop shop, Func<string, bool> match, int count = 1, Action? meanwhile = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var told = await ToldAsync(shop);
            if (told.Count(match) >= count)
                return told;
            Assert.True(DateTime.UtcNow < deadline, "The customer was not told; the chat says: " + string.Join(" | ", told));
            meanwhile?.Invoke();
            await Task.Delay(100);
        }
    }

    private static async Task<JsonElement> CommandAsync(Shop shop, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var commands = (await shop.Admin.GetJsonAsync($"/v1/connectors/{shop.Connector}/commands")).Json;
            if (commands.GetArrayLength() > 0 && done(commands[0]))
                return commands[0];
            Assert.True(DateTime.UtcNow < deadline, commands.ToString());
            await Task.Delay(100);
        }
    }

    /// <summary>Waits for the staff alert of <paramref name="kind"/> on the item's timeline (written just after the customer is told).</summary>
    private static async Task<JsonElement> AlertAsync(Shop shop, string kind)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var timeline = (await shop.Admin.GetJsonAsync($"/v1/work-items/{shop.ItemId}/timeline")).Json.EnumerateArray().ToList();
            if (timeline.FirstOrDefault(e => e.GetProperty("kind").GetString() == kind) is { ValueKind: JsonValueKind.Object } alert)
                return alert;
            Assert.True(DateTime.UtcNow < deadline, $"no {kind} on the timeline: " + string.Join(", ", timeline.Select(e => e.GetProperty("kind").GetString())));
            await Task.Delay(100);
        }
    }

    private static async Task<List<string>> TimelineAsync(Shop shop) =>
        [.. (await shop.Admin.GetJsonAsync($"/v1/work-items/{shop.ItemId}/timeline")).Json.EnumerateArray().Select(e => e.GetProperty("kind").GetString()!)];

    [Theory, MemberData(nameof(Databases))]
    public async Task An_address_change_goes_out_as_a_signed_command_and_is_applied_once_when_the_system_has_done_it(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings(timeout: "00:00:30"));
        await using var system = await StoreSystem.StartAsync();
        var shop = await OpenAsync(app, system);
        var answer = new TaskCompletionSource();
        system.Commands = (_, _) => new SystemAnswer(200, new { status = "done", result = new { address_version = 2 } }, Until: answer.Task);

        // A double tap: one command. Until the system has done it, nothing changes in StoreLink.
        var taps = await Task.WhenAll(ChangeAddressAsync(shop), ChangeAddressAsync(shop));
        Assert.All(taps, t => Assert.Equal(200, t.Status));
        await system.WaitForAsync(s => s.CallsTo("commands").Count == 1);
        Assert.Null(await AddressAsync(shop));
        var call = system.CallsTo("commands")[0];
        Assert.True(call.SignatureValid && call.TimestampValid);
        var sent = call.Json;
        var id = sent.GetProperty("id").GetString()!;
        Assert.StartsWith("cmd_", id);
        Assert.Equal((id, id), (call.IdempotencyKey, call.Id));
        Assert.Equal("work_item.change_address", sent.GetProperty("type").GetString());
        Assert.Equal((shop.ItemId, "SO-8001", "order", "paid"), (sent.GetProperty("work_item").GetProperty("id").GetString(),
            sent.GetProperty("work_item").GetProperty("external_id").GetString(), sent.GetProperty("work_item").GetProperty("kind").GetString(),
            sent.GetProperty("work_item").GetProperty("state").GetString()));
        Assert.Equal(NewAddress, sent.GetProperty("data").GetProperty("address").GetString());

        answer.SetResult();
        await WaitToldAsync(shop, t => t == $"订单系统已确认：修改收货地址，新地址：{NewAddress}。");
        Assert.Equal(NewAddress, await AddressAsync(shop));
        var command = await CommandAsync(shop, c => c.GetProperty("status").GetString() == "done");
        Assert.Equal((true, 1), (command.GetProperty("applied").GetBoolean(), command.GetProperty("attempts").GetInt32()));
        Assert.Equal(2, command.GetProperty("result").GetProperty("address_version").GetInt32());
        Assert.Equal(200, Assert.Single(command.GetProperty("attempt_log").EnumerateArray()).GetProperty("status_code").GetInt32());

        // The system repeats its answer through the API: the same answer, nothing twice; another answer now is a conflict.
        var key = app.WithToken((await shop.Admin.PostJsonAsync("/v1/api-clients", new { name = "erp", permissions = new[] { "work_items:write" } })).Str("key"));
        var repeated = await key.PostJsonAsync($"/v1/commands/{id}/result", new { status = "done" });
        Assert.Equal((200, "done"), (repeated.Status, repeated.Str("status")));
        Assert.Equal((409, "conflict"), ConnectorHookTests.Result(await key.PostJsonAsync($"/v1/commands/{id}/result", new { status = "refused", message = "晚了" })));
        await Task.Delay(500);
        Assert.Single(await ToldAsync(shop), t => t.StartsWith("订单系统已确认"));
        Assert.Single(await TimelineAsync(shop), k => k == "customer_action");
        Assert.Single(system.CallsTo("commands"));

        // Another organization's key finds no such command; a key without the permission may not answer.
        var franchise = await WebhookTests.FranchiseAdminAsync(app);
        var foreign = app.WithToken((await franchise.PostJsonAsync("/v1/api-clients", new { name = "x", permissions = new[] { "work_items:write" } })).Str("key"));
        Assert.Equal((404, "not_found"), ConnectorHookTests.Result(await foreign.PostJsonAsync($"/v1/commands/{id}/result", new { status = "done" })));
        var reader = app.WithToken((await shop.Admin.PostJsonAsync("/v1/api-clients", new { name = "r", permissions = new[] { "work_items:read" } })).Str("key"));
        Assert.Equal((403, "forbidden"), ConnectorHookTests.Result(await reader.PostJsonAsync($"/v1/commands/{id}/result", new { status = "done" })));
        Assert.Equal((400, "invalid_request"), ConnectorHookTests.Result(await key.PostJsonAsync($"/v1/commands/{id}/result", new { status = "maybe" })));
        Assert.Equal((404, "not_found"), ConnectorHookTests.Result(await key.PostJsonAsync("/v1/commands/cmd_nosuch/result", new { status = "done" })));
        Assert.Empty(app.Log.Errors);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_slow_then_failing_system_gets_the_same_command_until_it_answers_the_customer_and_followers_hear_of_the_delay_and_it_is_applied_once(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db, Settings());
        await using var system = await StoreSystem.StartAsync();
        var shop = await OpenAsync(app, system);
        // Too slow (StoreLink gives up after 1 s, the system does it anyway), then unavailable, then done.
        system.Commands = (_, n) => n switch
        {
            1 => new SystemAnswer(200, new { status = "done" }, Delay: TimeSpan.FromSeconds(3)),
            2 => new SystemAnswer(503, new { message = "维护中" }),
            _ => new SystemAnswer(200, new { status = "done" }),
        };
        var agent = await app.LoginAsync("agent.bags@demo.local");
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/work-items/{shop.ItemId}/follow")).Status);
        await using var socket = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));

        Assert.Equal(200, (await ChangeAddressAsync(shop)).Status);
        // At the first failure the customer hears that it takes longer, and the follower gets the alert live.
        await WaitToldAsync(shop, t => t == "您的操作（修改收货地址）正在处理，订单系统响应较慢，完成后会通知您。");
        var alert = await socket.NextAsync(f => f.GetProperty("type").GetString() == "work_item"
            && f.GetProperty("event").GetProperty("kind").GetString() == "command_delayed");
        Assert.Equal(shop.ItemId, alert.GetProperty("work_item").GetProperty("id").GetString());
        Assert.True(alert.GetProperty("event").GetProperty("data").GetProperty("alert").GetBoolean());
        Assert.Null(await AddressAsync(shop));

        // Retries come due as the server's clock moves on.
        await WaitToldAsync(shop, t => t.StartsWith("订单系统已确认"), meanwhile: () => app.Clock.Advance(TimeSpan.FromSeconds(2)));
        Assert.Equal(NewAddress, await AddressAsync(shop));
        var calls = system.CallsTo("commands");
        Assert.True(calls.Count >= 3, $"{calls.Count} calls");
        Assert.Single(calls.Select(c => (c.IdempotencyKey, c.Body)).Distinct()); // the same key and body every time
        Assert.All(calls, c => Assert.True(c.SignatureValid));
        var command = await CommandAsync(shop, c => c.GetProperty("status").GetString() == "done");
        var attempts = command.GetProperty("attempt_log").EnumerateArray().ToList();
        Assert.Equal(attempts.Count, command.GetProperty("attempts").GetInt32());
        Assert.Contains("No answer within 1 s", attempts[0].GetProperty("error").GetString());
        Assert.Equal(503, attempts[1].GetProperty("status_code").GetInt32());
        Assert.Equal(200, attempts[^1].GetProperty("status_code").GetInt32());

        await Task.Delay(3000); // the first, slow answer has long come back by now
        var told = await ToldAsync(shop);
        Assert.Single(told, t => t.StartsWith("订单系统已确认"));
        Assert.Single(told, t => t.Contains("响应较慢")); // told once, not at every retry
        Assert.Single(await TimelineAsync(shop), k => k == "customer_action");
        Assert.Single(await TimelineAsync(shop), k => k == "command_delayed");
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_refusal_is_told_in_the_customers_language_alerts_staff_and_applies_nothing_and_the_customer_may_try_again(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings());
        await using var system = await StoreSystem.StartAsync();
        var shop = await OpenAsync(app, system);
        var refuse = true;
        system.Commands = (_, _) => refuse
            ? new SystemAnswer(409, new { status = "refused", message = "已发货，无法修改地址" })
            : new SystemAnswer(200, new { status = "done" });

        Assert.Equal(200, (await ChangeAddressAsync(shop)).Status);
        await WaitToldAsync(shop, t => t == "很抱歉，订单系统未能完成您的操作（修改收货地址）：已发货，无法修改地址");
        Assert.Null(await AddressAsync(shop));
        var refused = await CommandAsync(shop, c => c.GetProperty("status").GetString() == "refused");
        Assert.Equal(("已发货，无法修改地址", false), (refused.GetProperty("message").GetString(), refused.GetProperty("applied").GetBoolean()));
        var timeline = (await shop.Admin.GetJsonAsync($"/v1/work-items/{shop.ItemId}/timeline")).Json.EnumerateArray().ToList();
        var alert = timeline.Single(e => e.GetProperty("kind").GetString() == "command_refused");
        Assert.Equal("已发货，无法修改地址", alert.GetProperty("data").GetProperty("reason").GetString());
        Assert.DoesNotContain(timeline, e => e.GetProperty("kind").GetString() == "customer_action");

        // The customer reads English now (the system says so); trying again with another address is a new command.
        Assert.Equal(200, (await Hooks.SendAsync(app, shop.Connector, shop.Secret, Hooks.Event("c-1", "customer.upserted",
            new { external_id = "C-88", attributes = new { language = "en" } }, version: 1))).Status);
        Assert.Equal(200, (await ChangeAddressAsync(shop, "北京市朝阳区建国路 1 号")).Status);
        await WaitToldAsync(shop, t => t == "Sorry, the store's system could not do this (Change address): 已发货，无法修改地址");
        refuse = false;
        Assert.Equal(200, (await ChangeAddressAsync(shop, "北京市朝阳区建国路 1 号")).Status);
        await WaitToldAsync(shop, t => t == "The store's system confirmed: Change address, new address: 北京市朝阳区建国路 1 号.");
        Assert.Equal("北京市朝阳区建国路 1 号", await AddressAsync(shop));
        Assert.Equal(3, system.CallsTo("commands").Select(c => c.IdempotencyKey).Distinct().Count());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_accepted_approval_with_its_price_waits_for_the_systems_answer_and_concurrent_answers_apply_it_once(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings());
        await using var system = await StoreSystem.StartAsync();
        var shop = await OpenAsync(app, system);
        system.Commands = (_, _) => new SystemAnswer(202, new { status = "accepted" });
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var quote = await agent.PostJsonAsync($"/v1/work-items/{shop.ItemId}/requests", new { title = "定制刻字", price = "30.00" });
        Assert.Equal(201, quote.Status);
        var requestId = quote.Str("id");

        Assert.Equal(200, (await shop.Customer.PostJsonAsync($"/v1/work-items/{shop.ItemId}/actions", new { action = $"approve:{requestId}" })).Status);
        await WaitToldAsync(shop, t => t == "您的操作（同意「定制刻字 ¥30.00」）已提交订单系统处理，完成后会通知您。");
        var sent = system.CallsTo("commands")[0].Json;
        Assert.Equal("work_item.approve", sent.GetProperty("type").GetString());
        Assert.Equal((requestId, "30.00", "CNY"), (sent.GetProperty("data").GetProperty("request_id").GetString(),
            sent.GetProperty("data").GetProperty("price").GetString(), sent.GetProperty("data").GetProperty("currency").GetString()));
        var accepted = await CommandAsync(shop, c => c.GetProperty("status").GetString() == "accepted");
        Assert.Equal("pending", (await shop.Admin.GetJsonAsync($"/v1/work-items/{shop.ItemId}")).Json.GetProperty("requests")[0].GetProperty("status").GetString());

        // The system answers later, three times at once (its own retries): one applies, all answer the same.
        var key = app.WithToken((await shop.Admin.PostJsonAsync("/v1/api-clients", new { name = "erp", permissions = new[] { "connectors:manage" } })).Str("key"));
        var id = accepted.GetProperty("id").GetString();
        var answers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => key.PostJsonAsync($"/v1/commands/{id}/result", new { status = "done", result = new { quote_no = "Q-1" } })));
        Assert.All(answers, a => Assert.Equal((200, "done"), (a.Status, a.Str("status"))));
        Assert.Equal("approved", (await shop.Admin.GetJsonAsync($"/v1/work-items/{shop.ItemId}")).Json.GetProperty("requests")[0].GetProperty("status").GetString());
        await WaitToldAsync(shop, t => t == "订单系统已确认：同意「定制刻字 ¥30.00」。");
        await Task.Delay(500);
        Assert.Single(await ToldAsync(shop), t => t.StartsWith("订单系统已确认"));
        Assert.Single(await TimelineAsync(shop), k => k == "customer_action");
        Assert.Single(system.CallsTo("commands")); // accepted: not sent again
        Assert.Equal("Q-1", (await CommandAsync(shop, c => c.GetProperty("status").GetString() == "done")).GetProperty("result").GetProperty("quote_no").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_accepted_command_the_system_never_answers_is_given_up_after_the_answer_period_and_a_late_done_still_applies_it_once(string db)
    {
        var settings = Settings();
        settings["Connectors:CommandAnswerPeriod"] = "01:00:00";
        await using var app = await StoreLinkApp.CreateAsync(db, settings);
        await using var system = await StoreSystem.StartAsync();
        var shop = await OpenAsync(app, system);
        system.Commands = (_, _) => new SystemAnswer(202, new { status = "accepted" });

        Assert.Equal(200, (await ChangeAddressAsync(shop)).Status);
        await WaitToldAsync(shop, t => t.StartsWith("您的操作（修改收货地址）已提交"));
        var accepted = await CommandAsync(shop, c => c.GetProperty("status").GetString() == "accepted");
        // Within the hour nothing happens.
        app.Clock.Advance(TimeSpan.FromMinutes(59));
        await Task.Delay(1500);
        Assert.Equal("accepted", (await CommandAsync(shop, _ => true)).GetProperty("status").GetString());
        Assert.DoesNotContain("command_unanswered", await TimelineAsync(shop));

        // An hour after accepting, still no answer: given up, the customer told, the item's followers alerted — once.
        app.Clock.Advance(TimeSpan.FromMinutes(2));
        await WaitToldAsync(shop, t => t == "很抱歉，您的操作（修改收货地址）暂时无法完成，店员会尽快与您联系。");
        var failed = await CommandAsync(shop, c => c.GetProperty("status").GetString() == "failed");
        var alert = await AlertAsync(shop, "command_unanswered");
        Assert.True(alert.GetProperty("data").GetProperty("alert").GetBoolean());
        Assert.Equal("订单系统", alert.GetProperty("data").GetProperty("system").GetString());
        app.Clock.Advance(TimeSpan.FromHours(2));
        await Task.Delay(1500);
        Assert.Single(await ToldAsync(shop), t => t.StartsWith("很抱歉"));
        Assert.Single(await TimelineAsync(shop), k => k == "command_unanswered");
        Assert.Single(system.CallsTo("commands")); // accepted: never sent again
        Assert.Null(await AddressAsync(shop));

        // The system's answer comes after all: applied once, and the customer hears it.
        var key = app.WithToken((await shop.Admin.PostJsonAsync("/v1/api-clients", new { name = "erp", permissions = new[] { "work_items:write" } })).Str("key"));
        Assert.Equal(200, (await key.PostJsonAsync($"/v1/commands/{failed.GetProperty("id").GetString()}/result", new { status = "done" })).Status);
        await WaitToldAsync(shop, t => t.StartsWith("订单系统已确认"));
        Assert.Equal(NewAddress, await AddressAsync(shop));
        Assert.Single(await TimelineAsync(shop), k => k == "customer_action");
        Assert.Equal(accepted.GetProperty("id").GetString(), failed.GetProperty("id").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_command_that_keeps_failing_is_given_up_after_the_retry_period_and_a_late_done_still_applies_it_once(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings());
        await using var system = await StoreSystem.StartAsync();
        var shop = await OpenAsync(app, system);
        system.Commands = (_, _) => new SystemAnswer(500);

        Assert.Equal(200, (await ChangeAddressAsync(shop)).Status);
        await WaitToldAsync(shop, t => t.Contains("响应较慢"));
        // Ten minutes of failures later (on the server's clock) StoreLink gives up, and says so.
        await WaitToldAsync(shop, t => t == "很抱歉，您的操作（修改收货地址）暂时无法完成，店员会尽快与您联系。", meanwhile: () => app.Clock.Advance(TimeSpan.FromMinutes(1)));
        var failed = await CommandAsync(shop, c => c.GetProperty("status").GetString() == "failed");
        Assert.All(failed.GetProperty("attempt_log").EnumerateArray(), a => Assert.Equal(500, a.GetProperty("status_code").GetInt32()));
        await AlertAsync(shop, "command_failed");
        Assert.Null(await AddressAsync(shop));
        var calls = system.CallsTo("commands").Count;
        await Task.Delay(1000);
        Assert.Equal(calls, system.CallsTo("commands").Count); // not sent again

        // The system did it after all and says so: applied now, once, and the customer hears the final outcome.
        var key = app.WithToken((await shop.Admin.PostJsonAsync("/v1/api-clients", new { name = "erp", permissions = new[] { "work_items:write" } })).Str("key"));
        Assert.Equal(200, (await key.PostJsonAsync($"/v1/commands/{failed.GetProperty("id").GetString()}/result", new { status = "done" })).Status);
        await WaitToldAsync(shop, t => t.StartsWith("订单系统已确认"));
        Assert.Equal(NewAddress, await AddressAsync(shop));
        Assert.Single(await TimelineAsync(shop), k => k == "customer_action");
    }
}
