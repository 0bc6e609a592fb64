using System.Collections.Concurrent;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>The server is killed (SIGKILL) while it dispatches webhooks; after a restart no committed event is missing.</summary>
public sealed class WebhookCrashTests
{
    [Theory, MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task A_kill_in_the_middle_of_dispatching_loses_no_outbox_event(string provider)
    {
        await using var database = await TestDatabases.CreateEmptyAsync(provider);
        var env = new Dictionary<string, string>
        {
            ["Storage__Provider"] = provider,
            ["Webhooks__AllowPrivateTargets"] = "true",
            ["Webhooks__Timeout"] = "00:00:02",
            ["Webhooks__PollInterval"] = "00:00:00.200",
            ["Webhooks__FirstRetryDelay"] = "00:00:01",
        };
        if (database.ConnectionString is not null)
            env["Storage__ConnectionString"] = database.ConnectionString;
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Behaviour = _ => (204, TimeSpan.FromMilliseconds(1500)); // slow but in time: a backlog builds up and 16 attempts are in flight at the kill

        string token, conversationId;
        var acked = new ConcurrentBag<string>();
        await using (var server = await ServerProcess.StartAsync(database.DataDirectory, ["--demo"], env))
        {
            Assert.False(server.HasExited, server.Output);
            var admin = new HttpClient { BaseAddress = server.Client.BaseAddress };
            admin.DefaultRequestHeaders.Authorization = new("Bearer", (await server.Client.PostJsonAsync("/v1/auth/login", new { login = "admin@demo.local", password = "demo1234" })).Str("access_token"));
            var created = await admin.PostJsonAsync("/v1/webhooks", new { url = receiver.Url.ToString(), events = new[] { "message.created" } });
            Assert.Equal(201, created.Status);
            receiver.Secret = created.Str("secret");

            token = (await server.Client.PostJsonAsync("/v1/auth/visitor", new { store_key = "demo-digital" })).Str("access_token");
            var customer = new HttpClient { BaseAddress = server.Client.BaseAddress };
            customer.DefaultRequestHeaders.Authorization = new("Bearer", token);
            conversationId = (await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })).Str("id");

            using var stop = new CancellationTokenSource();
            var senders = Enumerable.Range(0, 4).Select(async s =>
            {
                for (var i = 0; i < 60 && !stop.IsCancellationRequested; i++)
                {
                    try
                    {
                        var sent = await MessagingTestsSendAsync(customer, conversationId, $"s{s}-{i}");
                        if (sent.Status == 201)
                            acked.Add(sent.Str("id"));
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
                    {
                        return; // the server is gone
                    }
                }
            }).ToList();
            await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(60));
            await receiver.WaitForAsync(r => r.Received.Count >= 40, TimeSpan.FromSeconds(60));
            server.Kill();
            await stop.CancelAsync();
        }
        receiver.Behaviour = _ => (204, TimeSpan.Zero);
        var beforeRestart = receiver.Accepted.Count;
        Assert.True(beforeRestart < acked.Count, "the kill came before every event was delivered");

        await using (var again = await ServerProcess.StartAsync(database.DataDirectory, ["--demo"], env))
        {
            Assert.False(again.HasExited, again.Output);
            // Attempts cut off by the kill come due again when their lease (timeout + 10 s) ends.
            await receiver.WaitForAsync(r => acked.All(id => MessageIds(r).Contains(id)), TimeSpan.FromSeconds(90));
            var customer = new HttpClient { BaseAddress = again.Client.BaseAddress };
            customer.DefaultRequestHeaders.Authorization = new("Bearer", token);
            var stored = new HashSet<string>();
            for (long after = 0; ;)
            {
                var page = (await customer.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq={after}&limit=200")).Json.EnumerateArray().ToList();
                if (page.Count == 0)
                    break;
                stored.UnionWith(page.Where(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer").Select(m => m.GetProperty("id").GetString()!));
                after = page[^1].GetProperty("seq").GetInt64();
            }
            // Exactly the stored customer messages, once each after de-duplication by webhook-id: none lost, none invented.
            await receiver.WaitForAsync(r => stored.All(id => MessageIds(r).Contains(id)), TimeSpan.FromSeconds(30));
            var delivered = receiver.Accepted.Select(h => h.Json.GetProperty("data").GetProperty("message")).Where(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer")
                .Select(m => m.GetProperty("id").GetString()!).ToList();
            Assert.Equal(stored.Order(), delivered.Order());
            Assert.All(receiver.Received, r => Assert.True(r.SignatureValid));
        }
    }

    private static HashSet<string> MessageIds(WebhookReceiver receiver) =>
        receiver.Accepted.Select(h => h.Json.GetProperty("data").GetProperty("message").GetProperty("id").GetString()!).ToHashSet();

    private static Task<ApiResponse> MessagingTestsSendAsync(HttpClient client, string conversationId, string text) =>
        Conversations.MessagingTests.SendAsync(client, conversationId, text);
}
