using System.Net.Http.Json;
using System.Text.Json;

namespace StoreLink.Tests.Infrastructure;

/// <summary>
/// Janus's own HTTP API as a participant speaks it, independent of the server's client: one session with the VideoRoom
/// attached, synchronous requests, and asynchronous ones (join) answered by an event on the session's long poll.
/// </summary>
public sealed class JanusClient : IAsyncDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(60) };
    private readonly Uri _url;
    private long _session, _handle;

    private JanusClient(Uri url) => _url = url;

    public static async Task<JanusClient> AttachAsync(Uri url)
    {
        var client = new JanusClient(url);
        client._session = (await client.PostAsync("", new { janus = "create" })).GetProperty("data").GetProperty("id").GetInt64();
        client._handle = (await client.PostAsync($"/{client._session}", new { janus = "attach", plugin = "janus.plugin.videoroom" }))
            .GetProperty("data").GetProperty("id").GetInt64();
        return client;
    }

    /// <summary>A synchronous VideoRoom request (exists, list, create, destroy…): the plugin's answer.</summary>
    public async Task<JsonElement> RequestAsync(object body) =>
        (await PostAsync($"/{_session}/{_handle}", new { janus = "message", body })).GetProperty("plugindata").GetProperty("data");

    /// <summary>An asynchronous VideoRoom request (join): the plugin's event that answers it, from the long poll.</summary>
    public async Task<JsonElement> AskAsync(object body)
    {
        var ack = await PostAsync($"/{_session}/{_handle}", new { janus = "message", body });
        Assert.Equal("ack", ack.GetProperty("janus").GetString());
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            // Janus answers a poll with an event, or after 30 s with a keepalive.
            var polled = await _http.GetFromJsonAsync<JsonElement>($"{_url}/{_session}?maxev=1");
            if (polled.TryGetProperty("plugindata", out var plugin))
                return plugin.GetProperty("data");
        }
        throw new TimeoutException("Janus sent no answer to " + JsonSerializer.Serialize(body));
    }

    private async Task<JsonElement> PostAsync(string path, object message)
    {
        var body = JsonSerializer.SerializeToNode(message)!.AsObject();
        body["transaction"] = Guid.NewGuid().ToString("N");
        using var response = await _http.PostAsJsonAsync(_url + path, body);
        response.EnsureSuccessStatusCode();
        var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.NotEqual("error", answer.GetProperty("janus").GetString());
        return answer;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await PostAsync($"/{_session}", new { janus = "destroy" });
        }
        finally
        {
            _http.Dispose();
        }
    }
}
