using System.Collections.Concurrent;
using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Host;

/// <summary>Durability: the server is killed (SIGKILL) in the middle of a stream of sends and started again on the same data.</summary>
public sealed class CrashTests
{
    [Theory, MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Every_acknowledged_message_survives_a_kill_exactly_once_with_gapless_seq(string provider)
    {
        await using var database = await TestDatabases.CreateEmptyAsync(provider);
        var env = new Dictionary<string, string> { ["Storage__Provider"] = provider };
        if (database.ConnectionString is not null)
            env["Storage__ConnectionString"] = database.ConnectionString;

        string token, conversationId;
        var acked = new ConcurrentDictionary<string, long>();
        var sent = new ConcurrentBag<string>();
        await using (var server = await ServerProcess.StartAsync(database.DataDirectory, ["--demo"], env))
        {
            Assert.False(server.HasExited, server.Output);
            token = (await server.Client.PostJsonAsync("/v1/auth/visitor", new { store_key = "demo-digital" })).Str("access_token");
            var customer = new HttpClient { BaseAddress = server.Client.BaseAddress };
            customer.DefaultRequestHeaders.Authorization = new("Bearer", token);
            conversationId = (await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })).Str("id");

            // Four sockets send as fast as acks come back; the server dies under them.
            using var stop = new CancellationTokenSource();
            var senders = Enumerable.Range(0, 4).Select(async s =>
            {
                await using var ws = await WsClient.ConnectAsync(server.Client.BaseAddress!);
                await ws.AuthAsync(token);
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var id = $"s{s}-{i}";
                    sent.Add(id);
                    try
                    {
                        var ok = await ws.SendMessageAsync(conversationId, $"第 {i} 条", id);
                        if (ok.GetProperty("type").GetString() == "ok")
                            acked[id] = ok.GetProperty("message").GetProperty("seq").GetInt64();
                    }
                    catch (Exception e) when (e is OperationCanceledException or TimeoutException or System.Net.WebSockets.WebSocketException or InvalidOperationException)
                    {
                        return; // the server is gone
                    }
                }
            }).ToList();

            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (acked.Count < 300 && DateTime.UtcNow < deadline)
                await Task.Delay(20);
            server.Kill();
            await stop.CancelAsync();
            await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.True(acked.Count >= 300, $"only {acked.Count} acks before the kill");

        await using (var again = await ServerProcess.StartAsync(database.DataDirectory, ["--demo"], env))
        {
            Assert.False(again.HasExited, again.Output);
            var customer = new HttpClient { BaseAddress = again.Client.BaseAddress };
            customer.DefaultRequestHeaders.Authorization = new("Bearer", token);
            var stored = await AllAsync(customer, conversationId);

            Assert.Equal(Enumerable.Range(1, stored.Count).Select(i => (long)i), stored.Select(m => m.Seq));
            // Only the customer's messages have client ids (an out-of-hours auto-reply from the server has none).
            var byClientId = stored.Where(m => m.ClientMsgId is not null).GroupBy(m => m.ClientMsgId!).ToDictionary(g => g.Key, g => g.ToList());
            Assert.All(byClientId, g => Assert.Single(g.Value));
            foreach (var (id, seq) in acked)
                Assert.Equal(seq, Assert.Single(byClientId[id]).Seq);

            // The clients retry what was never acknowledged: each is then stored once, and the seq stays gapless.
            foreach (var id in sent.Where(id => !acked.ContainsKey(id)))
            {
                var retry = await customer.PostJsonAsync($"/v1/conversations/{conversationId}/messages", new { client_msg_id = id, kind = "text", body = new { text = "retry" } });
                Assert.True(retry.Status is 200 or 201, retry.ToString());
            }
            var final = await AllAsync(customer, conversationId);
            Assert.Equal(Enumerable.Range(1, final.Count).Select(i => (long)i), final.Select(m => m.Seq));
            var finalSent = final.Where(m => m.ClientMsgId is not null).Select(m => m.ClientMsgId!).ToList();
            Assert.Equal(sent.Order(), finalSent.Order());
        }
    }

    private sealed record Stored(long Seq, string? ClientMsgId);

    private static async Task<List<Stored>> AllAsync(HttpClient client, string conversationId)
    {
        var all = new List<Stored>();
        for (long after = 0; ;)
        {
            var page = await client.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq={after}&limit=200");
            Assert.Equal(200, page.Status);
            var messages = page.Json.EnumerateArray().Select(m => new Stored(m.GetProperty("seq").GetInt64(), m.TryGetProperty("client_msg_id", out var id) ? id.GetString() : null)).ToList();
            if (messages.Count == 0)
                return all;
            all.AddRange(messages);
            after = messages[^1].Seq;
        }
    }
}
