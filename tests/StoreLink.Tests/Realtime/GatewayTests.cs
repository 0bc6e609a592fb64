using System.Net.WebSockets;
using System.Text.Json;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Realtime;

/// <summary>The WebSocket protocol against the server on a real socket.</summary>
public sealed class GatewayTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static string Type(JsonElement frame) => frame.GetProperty("type").GetString()!;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_send_is_acked_after_commit_and_pushed_to_every_other_connection(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        await using var phone = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        await using var tablet = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        await using var console = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
        var managerRest = await app.LoginAsync("manager.digital@demo.local");
        await using var manager = await app.ConnectAsync(StoreLinkApp.TokenOf(managerRest));
        await using var bags = await app.ConnectAsync(StoreLinkApp.TokenOf(await app.LoginAsync("agent.bags@demo.local")));

        var ok = await phone.SendMessageAsync(id, "你好，手机屏幕碎了");
        Assert.Equal("ok", Type(ok));
        var message = ok.GetProperty("message");
        Assert.Equal(1, message.GetProperty("seq").GetInt64());
        // Acked means committed: REST sees it at once.
        Assert.Contains((await agent.GetJsonAsync($"/v1/conversations/{id}/messages")).Json.EnumerateArray(),
            m => m.GetProperty("id").GetString() == message.GetProperty("id").GetString());

        foreach (var other in new[] { tablet, console, manager })
        {
            var pushed = await other.NextOfTypeAsync("message");
            Assert.Equal(message.GetProperty("id").GetString(), pushed.GetProperty("message").GetProperty("id").GetString());
        }
        // The customer's own device hears only the server's notice that an agent took the conversation (seq 2).
        var notice = (await phone.NextOfTypeAsync("message")).GetProperty("message");
        Assert.Equal(("system", 2L), (notice.GetProperty("kind").GetString(), notice.GetProperty("seq").GetInt64()));
        Assert.True(await bags.NothingAsync(f => Type(f) == "message", TimeSpan.FromMilliseconds(300)));

        // A REST send reaches every socket of the audience, the sender's included (a manager may always write).
        Assert.Equal(201, (await MessagingTests.SendAsync(managerRest, id, "请问什么型号？")).Status);
        Assert.Equal(3, (await phone.NextAsync(f => Type(f) == "message" && f.GetProperty("message").GetProperty("kind").GetString() == "text")).GetProperty("message").GetProperty("seq").GetInt64());
        Assert.Equal(3, (await manager.NextAsync(f => Type(f) == "message" && f.GetProperty("message").GetProperty("seq").GetInt64() == 3)).GetProperty("message").GetProperty("seq").GetInt64());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_message_reads_the_same_in_its_answer_its_push_sync_and_history(string db)
    {
        // The gateway writes a message's JSON by hand, once for the push and the answer: byte for byte what the
        // serializer writes for REST, whatever the text holds.
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        await using var phone = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        await using var console = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
        var texts = new[] { "屏幕碎了 😀", "quote \" back\\slash </script> & 'x' \u2028 \t tab", "\u0001 control é" };
        var answers = new List<JsonElement>();
        foreach (var text in texts)
            answers.Add(await phone.SendMessageAsync(id, text));
        var location = await phone.RequestAsync(new
        {
            type = "send", conversation_id = id, client_msg_id = "loc-1", kind = "location",
            body = new { latitude = 31.2304, longitude = 121.4737, label = "南京路 100 号" },
        });

        var history = (await customer.GetJsonAsync($"/v1/conversations/{id}/messages?limit=200")).Json.EnumerateArray()
            .ToDictionary(m => m.GetProperty("id").GetString()!, m => m.GetRawText());
        var sync = await SyncedAsync(phone, id);
        foreach (var ok in answers.Append(location))
        {
            var message = ok.GetProperty("message");
            var messageId = message.GetProperty("id").GetString()!;
            var rest = history[messageId];
            Assert.Equal($"{{\"type\":\"ok\",\"rid\":\"{ok.GetProperty("rid").GetString()}\",\"message\":{rest}}}", ok.GetRawText());
            var pushed = await console.NextAsync(f => Type(f) == "message" && f.GetProperty("message").GetProperty("id").GetString() == messageId);
            Assert.Equal($"{{\"type\":\"message\",\"message\":{rest}}}", pushed.GetRawText());
            Assert.Equal($"{{\"type\":\"message\",\"message\":{rest}}}", sync[messageId]);
        }
        Assert.Equal(texts, answers.Select(a => a.GetProperty("message").GetProperty("body").GetProperty("text").GetString()));
    }

    /// <summary>The raw <c>message</c> frames a sync from the start sends, by message id.</summary>
    private static async Task<Dictionary<string, string>> SyncedAsync(WsClient ws, string conversationId)
    {
        ws.Drain();
        await ws.RequestAsync(new { type = "sync", positions = new Dictionary<string, long> { [conversationId] = 0 } });
        return ws.Drain().Where(f => Type(f) == "message")
            .ToDictionary(f => f.GetProperty("message").GetProperty("id").GetString()!, f => f.GetRawText());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_burst_of_sends_on_one_socket_is_stored_and_answered_in_the_order_sent(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));

        // 150 sends without waiting for any answer (more than a connection may have in flight at once); send 70 is
        // invalid and send 71 repeats the client_msg_id of send 5.
        const int count = 150;
        for (var i = 0; i < count; i++)
            await ws.SendRawAsync(JsonSerializer.Serialize(new
            {
                type = "send", rid = $"b{i}", conversation_id = id, client_msg_id = i == 71 ? "burst-5" : $"burst-{i}", kind = "text",
                body = new { text = i == 70 ? "" : $"m{i}" },
            }));
        var answers = new List<JsonElement>();
        while (answers.Count < count)
            answers.Add(await ws.NextAsync(f => Type(f) is "ok" or "error"));

        Assert.Equal(Enumerable.Range(0, count).Select(i => $"b{i}"), answers.Select(a => a.GetProperty("rid").GetString()));
        Assert.Equal(("error", "invalid_request"), (Type(answers[70]), answers[70].GetProperty("code").GetString()));
        Assert.Equal(answers[5].GetProperty("message").GetProperty("id").GetString(), answers[71].GetProperty("message").GetProperty("id").GetString());
        var stored = answers.Where((_, i) => i is not (70 or 71)).Select(a => a.GetProperty("message")).ToList();
        Assert.All(stored.Zip(stored.Skip(1)), p => Assert.True(p.First.GetProperty("seq").GetInt64() < p.Second.GetProperty("seq").GetInt64()));
        var history = new List<JsonElement>();
        for (long after = 0; ;)
        {
            var page = (await customer.GetJsonAsync($"/v1/conversations/{id}/messages?after_seq={after}&limit=200")).Json.EnumerateArray().ToList();
            if (page.Count == 0)
                break;
            history.AddRange(page);
            after = page[^1].GetProperty("seq").GetInt64();
        }
        Assert.Equal(Enumerable.Range(0, count).Where(i => i is not (70 or 71)).Select(i => $"burst-{i}"),
            history.Where(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer").Select(m => m.GetProperty("client_msg_id").GetString()));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Pipelined_sends_to_a_resolved_conversation_reopen_it_once(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        await using var agentWs = await app.ConnectAsync(StoreLinkApp.TokenOf(agent)); // online, so routing assigns at once
        await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        Assert.Equal("ok", Type(await ws.SendMessageAsync(id, "屏幕碎了")));
        Assert.Equal(201, (await MessagingTests.SendAsync(agent, id, "请到店检测")).Status);
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/conversations/{id}/resolve")).Status);
        var resolvedAt = (await customer.GetJsonAsync($"/v1/conversations/{id}")).Json.GetProperty("last_seq").GetInt64();

        // Three sends without waiting: each was checked while the conversation was still resolved.
        for (var i = 0; i < 3; i++)
            await ws.SendRawAsync(JsonSerializer.Serialize(new { type = "send", rid = $"again{i}", conversation_id = id, client_msg_id = $"again-{i}", kind = "text", body = new { text = $"又坏了 {i}" } }));
        for (var i = 0; i < 3; i++)
            Assert.Equal("ok", Type(await ws.NextAsync(f => Type(f) is "ok" or "error")));

        // One reopening: the conversation is open with one assignment notice, not one per send.
        var conversation = await WaitForAsync(async () =>
        {
            var c = (await agent.GetJsonAsync($"/v1/conversations/{id}")).Json;
            return c.GetProperty("state").GetString() == "open" && c.TryGetProperty("assignee_id", out var a) && a.ValueKind == JsonValueKind.String ? c : (JsonElement?)null;
        });
        await Task.Delay(500); // a second reassignment, if any, would come now
        var after = (await customer.GetJsonAsync($"/v1/conversations/{id}/messages?after_seq={resolvedAt}")).Json.EnumerateArray().ToList();
        Assert.Equal(3, after.Count(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer"));
        Assert.Single(after, m => m.GetProperty("kind").GetString() == "system");
        Assert.Equal(conversation.GetProperty("assignee_id").GetString(), (await agent.GetJsonAsync($"/v1/conversations/{id}")).Json.GetProperty("assignee_id").GetString());
    }

    private static async Task<JsonElement> WaitForAsync(Func<Task<JsonElement?>> probe)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            if (await probe() is { } found)
                return found;
            Assert.True(DateTime.UtcNow < deadline, "Timed out waiting.");
            await Task.Delay(100);
        }
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Websocket_and_rest_refuse_the_same_things_with_the_same_codes(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var (stranger, strangerId) = await MessagingTests.OpenAsync(app);
        await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(stranger));

        var notMine = await ws.SendMessageAsync(id, "hi");
        Assert.Equal(("error", "not_found"), (Type(notMine), notMine.GetProperty("code").GetString()));
        Assert.Equal(404, (await MessagingTests.SendAsync(stranger, id, "hi")).Status);

        var card = await ws.RequestAsync(new { type = "send", conversation_id = strangerId, client_msg_id = "x", kind = "card", body = new { title = "t" } });
        Assert.Equal("invalid_request", card.GetProperty("code").GetString());
        var noId = await ws.RequestAsync(new { type = "send", conversation_id = strangerId, kind = "text", body = new { text = "t" } });
        Assert.Equal("invalid_request", noId.GetProperty("code").GetString());
        var huge = await ws.RequestAsync(new { type = "send", conversation_id = strangerId, client_msg_id = "y", kind = "text", body = new { text = new string('长', 5001) } });
        Assert.Equal("too_large", huge.GetProperty("code").GetString());

        // The same client_msg_id over WebSocket and REST is one message.
        var viaWs = await ws.SendMessageAsync(strangerId, "一次", "same-id");
        var viaRest = await MessagingTests.SendAsync(stranger, strangerId, "一次", "same-id");
        Assert.Equal(200, viaRest.Status);
        Assert.Equal(viaWs.GetProperty("message").GetProperty("id").GetString(), viaRest.Str("id"));
        var again = await ws.SendMessageAsync(strangerId, "一次", "same-id");
        Assert.Equal(1, again.GetProperty("message").GetProperty("seq").GetInt64());

        var franchise = await app.ConnectAsync(StoreLinkApp.TokenOf(await app.LoginAsync("agent@franchise.demo.local")));
        Assert.Equal("not_found", (await franchise.SendMessageAsync(strangerId, "hi")).GetProperty("code").GetString());
        Assert.Equal("not_found", (await franchise.RequestAsync(new { type = "read", conversation_id = strangerId, seq = 1 })).GetProperty("code").GetString());
        await franchise.DisposeAsync();
    }

    [Fact]
    public async Task Malformed_frames_get_error_frames_and_the_connection_lives_on()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        foreach (var bad in new[] { "{", "not json", "[]", "42", "{\"type\":5}", "{\"no_type\":true}", "{\"type\":\"fly\",\"rid\":\"a\"}", "{\"type\":\"send\",\"rid\":7}",
                     "{\"type\":\"send\",\"rid\":\"b\",\"conversation_id\":[]}", "{\"type\":\"sync\",\"rid\":\"c\",\"positions\":[1]}", "{\"type\":\"read\",\"rid\":\"d\",\"conversation_id\":\"x\",\"seq\":\"1\"}",
                     "{\"type\":\"auth\",\"rid\":\"e\",\"token\":5}", // a re-authentication whose token is not a string
                     // Lone surrogates: valid JSON, no text. Wherever they are, the frame is invalid, not a fault.
                     "{\"type\":\"\\ud800\"}", "{\"type\":\"ping\",\"rid\":\"\\udc00\"}", "{\"type\":\"sync\",\"rid\":\"f\",\"positions\":{\"\\ud83d\":1}}",
                     $"{{\"type\":\"send\",\"rid\":\"g\",\"conversation_id\":\"{id}\",\"client_msg_id\":\"g\",\"kind\":\"text\",\"body\":{{\"text\":\"\\udfff\"}}}}",
                     "{\"type\":\"typing\",\"conversation_id\":\"\\ud800\"}" })
        {
            await ws.SendRawAsync(bad);
            var error = await ws.NextOfTypeAsync("error");
            Assert.Equal("invalid_request", error.GetProperty("code").GetString());
        }
        await ws.SendBytesAsync([0x7B, 0x7D], WebSocketMessageType.Binary);
        Assert.Equal("invalid_request", (await ws.NextOfTypeAsync("error")).GetProperty("code").GetString());
        Assert.Equal("ok", Type(await ws.RequestAsync(new { type = "ping" })));
        Assert.Equal("ok", Type(await ws.SendMessageAsync(id, "still here")));
        Assert.Empty(app.Log.Errors);
    }

    [Fact]
    public async Task A_frame_over_64_KiB_closes_with_4008()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var (customer, _) = await MessagingTests.OpenAsync(app);
        await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        // Up to the limit a frame is fine, large or small, one after another (the receive buffer grows and shrinks).
        foreach (var size in new[] { 65_536 - 40, 10, 20_000, 5 })
            Assert.Equal("ok", (await ws.RequestAsync(new { type = "ping", pad = new string('x', size) })).GetProperty("type").GetString());
        await ws.SendRawAsync("{\"type\":\"ping\",\"rid\":\"" + new string('x', 70_000) + "\"}");
        Assert.Equal(4008, (await ws.ClosedAsync()).Code);

        // Also as the first frame, and with a part past the limit that is not UTF-8: the socket fails on that part
        // while the server waits for the client's close, and the 4008 must still reach the client.
        async Task<int?> OversizedAsync(bool signedIn, bool brokenTail)
        {
            await using var client = signedIn ? await app.ConnectAsync(StoreLinkApp.TokenOf(customer)) : await WsClient.ConnectAsync(app.ServerUri);
            var frame = System.Text.Encoding.UTF8.GetBytes("{\"type\":\"ping\",\"rid\":\"" + new string('x', 70_000) + "\"}");
            if (brokenTail)
                frame[^10] = 0xFF;
            try
            {
                await client.SendBytesAsync(frame);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // The server may stop reading before the whole frame is sent; the close code is what counts.
            }
            return (await client.ClosedAsync()).Code;
        }
        var codes = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => OversizedAsync(signedIn: i % 2 == 0, brokenTail: i % 4 < 2)));
        Assert.All(codes, code => Assert.Equal(4008, code));
        Assert.Empty(app.Log.Errors);
    }

    [Fact]
    public async Task Authentication_comes_first_and_in_time()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, new Dictionary<string, string?> { ["Realtime:AuthTimeoutSeconds"] = "1" });
        await using (var silent = await WsClient.ConnectAsync(app.ServerUri))
            Assert.Equal(4001, (await silent.ClosedAsync()).Code);
        await using (var wrong = await WsClient.ConnectAsync(app.ServerUri))
        {
            await wrong.SendRawAsync("{\"type\":\"auth\",\"token\":\"sla_forged\"}");
            Assert.Equal(4001, (await wrong.ClosedAsync()).Code);
        }
        await using (var first = await WsClient.ConnectAsync(app.ServerUri))
        {
            await first.SendRawAsync("{\"type\":\"ping\",\"rid\":\"1\"}");
            Assert.Equal(4001, (await first.ClosedAsync()).Code);
        }
        var admin = await app.LoginAsync("admin@demo.local");
        var token = StoreLinkApp.TokenOf(admin);
        await using (var binary = await WsClient.ConnectAsync(app.ServerUri))
        {
            await binary.SendBytesAsync(System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { type = "auth", token })), WebSocketMessageType.Binary);
            Assert.Equal(4001, (await binary.ClosedAsync()).Code);
        }
        await using (var surrogate = await WsClient.ConnectAsync(app.ServerUri))
        {
            await surrogate.SendRawAsync($"{{\"type\":\"auth\",\"token\":\"{token}\",\"name\":\"\\ud800\"}}");
            Assert.Equal(4001, (await surrogate.ClosedAsync()).Code);
        }
        var key = (await admin.PostJsonAsync("/v1/api-clients", new { name = "k", permissions = new[] { "customers:read" } })).Str("key");
        await using (var apiKey = await WsClient.ConnectAsync(app.ServerUri))
        {
            await apiKey.SendRawAsync(JsonSerializer.Serialize(new { type = "auth", token = key }));
            Assert.Equal(4001, (await apiKey.ClosedAsync()).Code);
        }
        // Not a WebSocket request at all: a problem document.
        var plain = await app.Anonymous().GetJsonAsync("/v1/ws");
        Assert.Equal((400, "invalid_request"), (plain.Status, plain.Code));
        Assert.Empty(app.Log.Errors);
    }

    [Fact]
    public async Task A_text_frame_that_is_not_utf8_closes_with_1007_that_the_client_receives()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var token = StoreLinkApp.TokenOf(customer);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        // Pushes keep the agents' writers busy: the close must survive a frame being written at the same moment.
        using var stop = new CancellationTokenSource();
        var pushes = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
                await MessagingTests.SendAsync(customer, id, "push");
        });

        async Task<int?> BreakAsync(bool signedIn, int i)
        {
            await using var ws = signedIn ? await app.ConnectAsync(StoreLinkApp.TokenOf(agent)) : await WsClient.ConnectAsync(app.ServerUri);
            var frame = System.Text.Encoding.UTF8.GetBytes(signedIn ? "{\"type\":\"ping\",\"rid\":\"abcdefghij\"}" : JsonSerializer.Serialize(new { type = "auth", token }));
            frame[3 + i % 10] = 0xFF;
            await ws.SendBytesAsync(frame);
            return (await ws.ClosedAsync()).Code;
        }
        // The socket sends 1007 and gives up; torn down at once, the client mostly saw a dropped connection instead.
        var codes = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => BreakAsync(signedIn: i % 2 == 1, i)));
        await stop.CancelAsync();
        await pushes;
        Assert.All(codes, code => Assert.Equal(1007, code));
        Assert.Empty(app.Log.Errors);
    }

    [Fact]
    public async Task Ready_is_the_first_frame_even_while_pushes_stream_to_the_user()
    {
        // Typing is the cheapest push (no database write); unlimited here, a customer's typing floods the store's staff.
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, new Dictionary<string, string?> { ["Realtime:TypingPerSecond"] = "1000000" });
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = StoreLinkApp.TokenOf(await app.LoginAsync("agent.digital@demo.local"));
        using var stop = new CancellationTokenSource();
        var typist = Task.Run(async () =>
        {
            await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
            var typing = JsonSerializer.Serialize(new { type = "typing", conversation_id = id });
            for (var i = 1; !stop.IsCancellationRequested; i++)
            {
                await ws.SendRawAsync(typing);
                // Paced by a round trip now and then, so the pushes stream rather than pile up in queues.
                if (i % 20 == 0)
                    await ws.RequestAsync(new { type = "ping" });
            }
        });
        var first = new List<string>();
        for (var i = 0; i < 60; i++)
        {
            await using var ws = await WsClient.ConnectAsync(app.ServerUri);
            first.Add(Type(await ws.AuthAsync(agent)));
        }
        await stop.CancelAsync();
        await typist;
        Assert.True(first.All(type => type == "ready"), $"First frames: {string.Join(", ", first.Where(t => t != "ready"))} ({first.Count(t => t != "ready")} of {first.Count} not ready)");
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_staff_member_is_online_for_colleagues_once_their_socket_is_ready(string db)
    {
        // A transfer right after the colleague connected used to find them offline: presence was recorded after ready.
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var agentId = (await agent.GetJsonAsync("/v1/me")).Str("id");
        async Task<string?> StatusAsync() => (await manager.GetJsonAsync("/v1/presence")).Json.EnumerateArray()
            .Where(p => p.GetProperty("user_id").GetString() == agentId).Select(p => p.GetProperty("status").GetString()).Single();
        for (var i = 0; i < 10; i++)
        {
            var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
            Assert.Equal("online", await StatusAsync());
            await ws.DisposeAsync();
            await Eventually.TrueAsync(async () => await StatusAsync() == "offline");
        }
    }

    [Fact]
    public async Task Only_allowed_browser_origins_may_connect()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, new Dictionary<string, string?> { ["Realtime:AllowedOrigins:0"] = "https://shop.example" });
        var token = StoreLinkApp.TokenOf(await app.VisitorAsync("demo-digital"));
        await using (var allowed = await WsClient.ConnectAsync(app.ServerUri, origin: "https://shop.example"))
            Assert.Equal("ready", Type(await allowed.AuthAsync(token)));
        await using (var same = await WsClient.ConnectAsync(app.ServerUri, origin: $"http://{app.ServerUri.Authority}"))
            Assert.Equal("ready", Type(await same.AuthAsync(token)));
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => WsClient.ConnectAsync(app.ServerUri, origin: "https://evil.example"));
        Assert.Contains("403", refused.Message);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Logout_and_account_changes_close_open_sockets(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var other = await app.LoginAsync("agent.digital@demo.local");
        await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
        await using var otherWs = await app.ConnectAsync(StoreLinkApp.TokenOf(other));
        Assert.Equal(204, (await agent.PostJsonAsync("/v1/auth/logout")).Status);
        Assert.Equal(4001, (await ws.ClosedAsync()).Code);
        Assert.Equal(WebSocketState.Open, otherWs.State);

        var admin = await app.LoginAsync("admin@demo.local");
        var id = (await other.GetJsonAsync("/v1/me")).Str("id");
        var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);
        await admin.PutJsonAsync($"/v1/staff/{id}/roles", new { roles = new[] { new { store_id = stores["demo-shoes"], role = "agent" } } });
        Assert.Equal(4010, (await otherWs.ClosedAsync()).Code);

        await using var again = await app.ConnectAsync(StoreLinkApp.TokenOf(other));
        await admin.PatchJsonAsync($"/v1/staff/{id}", new { disabled = true });
        Assert.Equal(4001, (await again.ClosedAsync()).Code);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_socket_closes_with_4001_when_its_token_expires(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        await using var ws = await WsClient.ConnectAsync(app.ServerUri);
        var ready = await ws.AuthAsync(StoreLinkApp.TokenOf(agent));
        var expiresAt = DateTimeOffset.Parse(ready.GetProperty("expires_at").GetString()!);
        Assert.InRange(expiresAt, app.Clock.GetUtcNow().AddHours(11), app.Clock.GetUtcNow().AddHours(13));
        Assert.Equal("ok", Type(await ws.RequestAsync(new { type = "ping" })));

        app.Clock.Advance(TimeSpan.FromHours(13));
        Assert.Equal(4001, (await ws.ClosedAsync(TimeSpan.FromSeconds(30))).Code);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_auth_frame_moves_the_deadline_to_a_new_token_of_the_same_user(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var first = await app.LoginAsync("agent.digital@demo.local");
        await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(first));
        app.Clock.Advance(TimeSpan.FromHours(6));
        var second = await app.LoginAsync("agent.digital@demo.local");

        // Refused: a token that does not authenticate, another user's token. The socket keeps its own.
        var forged = await ws.RequestAsync(new { type = "auth", token = "sla_forged-token-that-does-not-exist" });
        Assert.Equal(("error", "unauthorized"), (Type(forged), forged.GetProperty("code").GetString()));
        var other = await ws.RequestAsync(new { type = "auth", token = StoreLinkApp.TokenOf(await app.LoginAsync("manager.digital@demo.local")) });
        Assert.Equal(("error", "forbidden"), (Type(other), other.GetProperty("code").GetString()));

        var renewed = await ws.RequestAsync(new { type = "auth", token = StoreLinkApp.TokenOf(second) });
        Assert.Equal("ok", Type(renewed));
        Assert.True(DateTimeOffset.Parse(renewed.GetProperty("expires_at").GetString()!) > app.Clock.GetUtcNow().AddHours(11));

        // Past the first token's expiry, and with the first token revoked, the socket lives on the second.
        Assert.Equal(204, (await first.PostJsonAsync("/v1/auth/logout")).Status);
        app.Clock.Advance(TimeSpan.FromHours(7));
        await Assert.ThrowsAsync<TimeoutException>(() => ws.ClosedAsync(TimeSpan.FromSeconds(3)));
        Assert.Equal("ok", Type(await ws.RequestAsync(new { type = "ping" })));

        // The second token's revocation ends it.
        Assert.Equal(204, (await second.PostJsonAsync("/v1/auth/logout")).Status);
        Assert.Equal(4001, (await ws.ClosedAsync()).Code);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Sync_sends_what_was_missed_in_order_then_lists_the_conversations(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        for (var i = 1; i <= 7; i++)
            await MessagingTests.SendAsync(i % 2 == 0 ? agent : customer, id, $"m{i}");

        await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        var ok = await ws.RequestAsync(new { type = "sync", positions = new Dictionary<string, long> { [id] = 3, ["cnv_not_mine"] = 0 } });
        var missed = ws.Drain().Where(f => Type(f) == "message").Select(f => f.GetProperty("message").GetProperty("seq").GetInt64()).ToList();
        Assert.Equal([4L, 5L, 6L, 7L], missed);
        var listed = Assert.Single(ok.GetProperty("conversations").EnumerateArray());
        Assert.Equal((id, 7L), (listed.GetProperty("id").GetString(), listed.GetProperty("last_seq").GetInt64()));

        // A conversation the client did not know of shows up in the list.
        var other = await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-shoes" });
        var all = await ws.RequestAsync(new { type = "sync", positions = new Dictionary<string, long>() });
        Assert.Contains(all.GetProperty("conversations").EnumerateArray(), c => c.GetProperty("id").GetString() == other.Str("id"));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Receipts_typing_and_recalls_reach_the_other_side(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        await using var c = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        await using var a = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
        var sent = (await c.SendMessageAsync(id, "在吗")).GetProperty("message");
        await a.NextOfTypeAsync("message");

        var delivered = await a.RequestAsync(new { type = "delivered", conversation_id = id, seq = 1 });
        Assert.Equal(1, delivered.GetProperty("delivered_seq").GetInt64());
        var receipt = await c.NextOfTypeAsync("receipt");
        Assert.Equal((0L, 1L), (receipt.GetProperty("read_seq").GetInt64(), receipt.GetProperty("delivered_seq").GetInt64()));
        await a.RequestAsync(new { type = "read", conversation_id = id, seq = 1 });
        Assert.Equal(1, (await c.NextOfTypeAsync("receipt")).GetProperty("read_seq").GetInt64());
        // A watermark that does not move sends nothing.
        await a.RequestAsync(new { type = "read", conversation_id = id, seq = 0 });
        Assert.True(await c.NothingAsync(f => Type(f) == "receipt", TimeSpan.FromMilliseconds(300)));

        await a.SendRawAsync(JsonSerializer.Serialize(new { type = "typing", conversation_id = id }));
        Assert.Equal(id, (await c.NextOfTypeAsync("typing")).GetProperty("conversation_id").GetString());

        var recall = await c.RequestAsync(new { type = "recall", message_id = sent.GetProperty("id").GetString() });
        Assert.True(recall.GetProperty("message").GetProperty("recalled").GetBoolean());
        var recalled = await a.NextOfTypeAsync("message_recalled");
        Assert.Equal((sent.GetProperty("id").GetString(), 1L), (recalled.GetProperty("message_id").GetString(), recalled.GetProperty("seq").GetInt64()));
    }

    [Fact]
    public async Task A_client_that_cannot_keep_up_is_closed_with_4009_and_others_are_not_slowed()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, new Dictionary<string, string?> { ["Realtime:SendQueueFrames"] = "16" });
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("admin@demo.local");
        // This client (an org admin: every message of the organization reaches them) never reads: its socket buffers fill, then its queue.
        var stuck = await WsClient.ConnectAsync(app.ServerUri, read: false);
        await stuck.SendRawAsync(JsonSerializer.Serialize(new { type = "auth", token = StoreLinkApp.TokenOf(agent) }));
        await using var healthy = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        await using var sender = await app.ConnectAsync(StoreLinkApp.TokenOf(await app.LoginAsync("manager.digital@demo.local")));

        var text = new string('屏', 5000);
        var received = 0;
        for (var i = 0; i < 400; i++)
        {
            await sender.SendMessageAsync(id, text);
            await healthy.NextOfTypeAsync("message");
            received++;
        }
        Assert.Equal(400, received);
        var registry = app.Services.GetService(typeof(StoreLink.Server.Realtime.ConnectionRegistry)) as StoreLink.Server.Realtime.ConnectionRegistry;
        var agentId = (await agent.GetJsonAsync("/v1/me")).Str("id");
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (registry!.CountOfUser(agentId) > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Equal(0, registry.CountOfUser(agentId));
        await stuck.DisposeAsync();
    }

    [Fact]
    public async Task Shutting_down_closes_sockets_with_4010()
    {
        var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var (customer, _) = await MessagingTests.OpenAsync(app);
        await using var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        var stopping = app.DisposeAsync();
        Assert.Equal(4010, (await ws.ClosedAsync()).Code);
        await stopping;
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Presence_of_staff_is_seen_by_colleagues_and_store_customers(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var anonymous = app.Anonymous();
        Assert.False((await anonymous.GetJsonAsync("/v1/stores/by-key/demo-shoes/presence")).Json.GetProperty("online").GetBoolean());
        var manager = await app.LoginAsync("manager.digital@demo.local");
        await using var colleague = await app.ConnectAsync(StoreLinkApp.TokenOf(manager));
        var shoes = await app.LoginAsync("agent.shoes@demo.local");
        var shoesId = (await shoes.GetJsonAsync("/v1/me")).Str("id");

        var ws = await app.ConnectAsync(StoreLinkApp.TokenOf(shoes));
        var online = await colleague.NextAsync(f => Type(f) == "presence" && f.GetProperty("user_id").GetString() == shoesId);
        Assert.Equal("online", online.GetProperty("status").GetString());
        Assert.True((await anonymous.GetJsonAsync("/v1/stores/by-key/demo-shoes/presence")).Json.GetProperty("online").GetBoolean());
        Assert.False((await anonymous.GetJsonAsync("/v1/stores/by-key/demo-bags/presence")).Json.GetProperty("online").GetBoolean());

        Assert.Equal("away", (await ws.RequestAsync(new { type = "presence", status = "away" })).GetProperty("status").GetString());
        Assert.Equal("away", (await colleague.NextAsync(f => Type(f) == "presence" && f.GetProperty("user_id").GetString() == shoesId)).GetProperty("status").GetString());
        Assert.False((await anonymous.GetJsonAsync("/v1/stores/by-key/demo-shoes/presence")).Json.GetProperty("online").GetBoolean());
        Assert.Equal("away", (await manager.GetJsonAsync("/v1/presence")).Json.EnumerateArray().Single(p => p.GetProperty("user_id").GetString() == shoesId).GetProperty("status").GetString());

        await shoes.PutJsonAsync("/v1/me/presence", new { status = "online" });
        await colleague.NextAsync(f => Type(f) == "presence" && f.GetProperty("status").GetString() == "online");
        await ws.DisposeAsync();
        Assert.Equal("offline", (await colleague.NextAsync(f => Type(f) == "presence" && f.GetProperty("user_id").GetString() == shoesId)).GetProperty("status").GetString());
        Assert.False((await anonymous.GetJsonAsync("/v1/stores/by-key/demo-shoes/presence")).Json.GetProperty("online").GetBoolean());
    }
}
