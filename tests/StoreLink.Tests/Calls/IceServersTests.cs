using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using StoreLink.Tests.Infrastructure;
using StoreLink.Tests.Web;

namespace StoreLink.Tests.Calls;

public sealed class IceServersTests
{
    [Fact]
    public async Task Ice_servers_hand_out_stun_and_turn_with_coturn_rest_credentials_to_people_not_api_keys()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite, new Dictionary<string, string?>
        {
            ["Calls:StunUrls:0"] = "stun:turn.example.com:3478",
            ["Calls:Turn:Urls:0"] = "turn:turn.example.com:3478?transport=udp",
            ["Calls:Turn:Urls:1"] = "turns:turn.example.com:5349",
            ["Calls:Turn:Secret"] = "s3cret",
            ["Calls:Turn:CredentialLifetime"] = "00:10:00",
        });
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var agentId = (await agent.GetJsonAsync("/v1/me")).Str("id");

        var answer = await agent.GetJsonAsync("/v1/calls/ice-servers");
        Assert.Equal(200, answer.Status);
        Assert.Equal("all", answer.Str("ice_transport_policy"));
        var expiresAt = DateTimeOffset.Parse(answer.Str("expires_at"));
        Assert.InRange(expiresAt - app.Clock.GetUtcNow(), TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
        var servers = answer.Json.GetProperty("ice_servers").EnumerateArray().ToArray();
        Assert.Equal(2, servers.Length);
        Assert.Equal(["stun:turn.example.com:3478"], Urls(servers[0]));
        Assert.False(servers[0].TryGetProperty("username", out _));
        Assert.Equal(["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"], Urls(servers[1]));
        var username = servers[1].GetProperty("username").GetString()!;
        Assert.Equal($"{expiresAt.ToUnixTimeSeconds()}:{agentId}", username);
        Assert.Equal(Convert.ToBase64String(HMACSHA1.HashData("s3cret"u8, Encoding.UTF8.GetBytes(username))),
            servers[1].GetProperty("credential").GetString());

        // A customer calls too; an API key has no browser to call from; nobody unsigned gets credentials.
        var visitor = await app.VisitorAsync("demo-digital");
        Assert.Equal(200, (await visitor.GetJsonAsync("/v1/calls/ice-servers")).Status);
        var admin = await app.LoginAsync("admin@demo.local");
        var key = (await admin.PostJsonAsync("/v1/api-clients", new { name = "k", permissions = new[] { "customers:read" } })).Str("key");
        var byKey = await app.WithToken(key).GetJsonAsync("/v1/calls/ice-servers");
        Assert.Equal((403, "forbidden"), (byKey.Status, byKey.Code));
        Assert.Equal(401, (await app.Anonymous().GetJsonAsync("/v1/calls/ice-servers")).Status);
    }

    [Fact]
    public async Task Without_turn_configured_clients_get_only_what_is_there_and_force_relay_is_passed_on()
    {
        await using (var bare = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite))
        {
            var answer = await (await bare.LoginAsync("agent.digital@demo.local")).GetJsonAsync("/v1/calls/ice-servers");
            Assert.Equal(0, answer.Json.GetProperty("ice_servers").GetArrayLength());
            Assert.Equal("all", answer.Str("ice_transport_policy"));
        }
        await using var relayed = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite, new Dictionary<string, string?>
        {
            ["Calls:Turn:Urls:0"] = "turn:turn.example.com:3478", ["Calls:Turn:Secret"] = "s", ["Calls:Turn:ForceRelay"] = "true",
        });
        var relay = await (await relayed.LoginAsync("agent.digital@demo.local")).GetJsonAsync("/v1/calls/ice-servers");
        Assert.Equal("relay", relay.Str("ice_transport_policy"));
    }

    [Fact]
    public async Task A_relay_only_call_connects_through_coturn_with_the_credentials_of_the_endpoint()
    {
        var coturn = await MediaEngines.CoturnAsync();
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, coturn.Settings(forceRelay: true));
        var token = StoreLinkApp.TokenOf(await app.LoginAsync("agent.digital@demo.local"));
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync("/healthz");

        // Two peer connections in one page, each told to use relayed candidates only: media can flow only via coturn.
        await page.EvaluateAsync("""
            async token => {
              const ice = await (await fetch('/v1/calls/ice-servers', { headers: { authorization: 'Bearer ' + token } })).json();
              const config = { iceServers: ice.ice_servers, iceTransportPolicy: ice.ice_transport_policy };
              const a = new RTCPeerConnection(config), b = new RTCPeerConnection(config);
              a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
              b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
              const camera = await navigator.mediaDevices.getUserMedia({ video: true });
              camera.getTracks().forEach(t => a.addTrack(t, camera));
              await a.setLocalDescription();
              await b.setRemoteDescription(a.localDescription);
              await b.setLocalDescription();
              await a.setRemoteDescription(b.localDescription);
              window.call = { a, b };
            }
            """, token);
        await page.UntilAsync("""
            async () => {
              if (call.b.connectionState !== 'connected') return false;
              const stats = [...(await call.b.getStats()).values()];
              return stats.some(s => s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0);
            }
            """, "video frames decoded through the relay");

        var pair = await page.EvaluateAsync<JsonElement>("""
            async () => {
              const stats = await call.a.getStats();
              const transport = [...stats.values()].find(s => s.type === 'transport' && s.selectedCandidatePairId);
              const pair = stats.get(transport.selectedCandidatePairId);
              return { local: stats.get(pair.localCandidateId).candidateType, remote: stats.get(pair.remoteCandidateId).candidateType };
            }
            """);
        Assert.Equal(("relay", "relay"), (pair.GetProperty("local").GetString(), pair.GetProperty("remote").GetString()));
    }

    [Fact]
    public async Task Expired_or_forged_credentials_gather_no_relay_candidate_on_coturn()
    {
        var coturn = await MediaEngines.CoturnAsync();
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, coturn.Settings());
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var valid = (await agent.GetJsonAsync("/v1/calls/ice-servers")).Json.GetProperty("ice_servers");
        // The server's clock two hours behind real time: its one-hour credentials expired an hour ago for coturn.
        app.Clock.Advance(DateTimeOffset.UtcNow - app.Clock.GetUtcNow() - TimeSpan.FromHours(2));
        var expired = (await agent.GetJsonAsync("/v1/calls/ice-servers")).Json.GetProperty("ice_servers");
        var turn = valid[0];
        var forged = new[]
        {
            new { urls = Urls(turn), username = turn.GetProperty("username").GetString(), credential = Convert.ToBase64String(new byte[20]) },
        };
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync("/healthz");

        const string gather = """
            async servers => {
              const pc = new RTCPeerConnection({ iceServers: JSON.parse(servers), iceTransportPolicy: 'relay' });
              const relays = [], errors = [];
              pc.onicecandidate = e => e.candidate && e.candidate.candidate && relays.push(e.candidate.type);
              pc.onicecandidateerror = e => errors.push(e.errorCode);
              pc.createDataChannel('probe');
              await pc.setLocalDescription();
              await new Promise(ok => {
                if (pc.iceGatheringState === 'complete') ok();
                pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && ok();
              });
              pc.close();
              return { relays: relays.length, errors };
            }
            """;
        // The same probe with the endpoint's fresh credentials gathers relays: a refusal below is coturn's, not the probe's.
        Assert.True((await page.EvaluateAsync<JsonElement>(gather, valid.GetRawText())).GetProperty("relays").GetInt32() > 0);
        foreach (var (what, servers) in new[] { ("expired", expired.GetRawText()), ("forged", JsonSerializer.Serialize(forged)) })
        {
            var result = await page.EvaluateAsync<JsonElement>(gather, servers);
            Assert.True(result.GetProperty("relays").GetInt32() == 0, $"{what}: {result}");
            Assert.Contains(401, result.GetProperty("errors").EnumerateArray().Select(e => e.GetInt32()));
        }
    }

    private static string[] Urls(JsonElement server) => server.GetProperty("urls").EnumerateArray().Select(u => u.GetString()!).ToArray();
}
