using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Calls;

/// <summary>A call whose node dies is finished by the node that runs next, from the database alone.</summary>
public sealed class CallRestartTests
{
    [Theory, MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task A_call_active_when_the_server_is_killed_ends_lost_after_the_restart(string provider)
    {
        await using var database = await TestDatabases.CreateEmptyAsync(provider);
        var env = new Dictionary<string, string> { ["Storage__Provider"] = provider, ["Calls__LostAfter"] = "00:00:03" };
        if (database.ConnectionString is not null)
            env["Storage__ConnectionString"] = database.ConnectionString;

        string customerToken, conversationId, callId;
        await using (var server = await ServerProcess.StartAsync(database.DataDirectory, ["--demo"], env))
        {
            Assert.False(server.HasExited, server.Output);
            customerToken = (await server.Client.PostJsonAsync("/v1/auth/visitor", new { store_key = "demo-digital" })).Str("access_token");
            var customer = With(server, customerToken);
            conversationId = (await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })).Str("id");
            var agentToken = (await server.Client.PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "demo1234" })).Str("access_token");
            var started = await With(server, agentToken).PostJsonAsync($"/v1/conversations/{conversationId}/calls", new { media = "video", device_id = "dev-agent" });
            Assert.Equal(201, started.Status);
            callId = started.Str("id");
            var accepted = await customer.PostJsonAsync($"/v1/calls/{callId}/accept", new { device_id = "dev-customer" });
            Assert.Equal("active", accepted.Str("state"));
            server.Kill();
        }

        await using var again = await ServerProcess.StartAsync(database.DataDirectory, ["--demo"], env);
        Assert.False(again.HasExited, again.Output);
        var client = With(again, customerToken);
        ApiResponse? call = null;
        await Eventually.TrueAsync(async () => (call = await client.GetJsonAsync($"/v1/calls/{callId}")).Str("state") == "ended", what: "the call never ended");
        Assert.Equal("lost", call!.Str("end_reason"));
        var summary = await CallTests.SummaryAsync(client, conversationId, callId);
        Assert.Equal("lost", summary.GetProperty("body").GetProperty("result").GetString());
    }

    private static HttpClient With(ServerProcess server, string token)
    {
        var client = new HttpClient { BaseAddress = server.Client.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return client;
    }
}
