using System.Text;
using StoreLink.Protocol;
using StoreLink.Server.Data;

namespace StoreLink.Server.Integrations;

/// <summary>
/// How StoreLink calls a connector's system: through the outbound target rules (checked again on every connection),
/// without redirects, proxies or cookies, every request signed like a webhook with the connector's secret.
/// </summary>
public sealed class ConnectorHttp : IDisposable
{
    private readonly TimeProvider _clock;

    public ConnectorHttp(WebhookTargets targets, TimeProvider clock)
    {
        _clock = clock;
        Client = targets.NewClient("StoreLink-Connectors/1");
    }

    public HttpClient Client { get; }

    /// <summary>
    /// A request signed as StoreLink signs webhooks: <c>webhook-id</c> (a fresh one unless given), the time of sending,
    /// and the HMAC over <c>id.timestamp.body</c> — the empty string for a GET.
    /// </summary>
    public HttpRequestMessage Signed(ConnectorRow connector, HttpMethod method, Uri url, string? body = null, string? id = null)
    {
        var request = new HttpRequestMessage(method, url);
        if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        foreach (var (name, value) in WebhookSignature.Headers(connector.Secret, id ?? Ids.New("req", _clock), _clock.GetUtcNow(), body ?? ""))
            request.Headers.Add(name, value);
        return request;
    }

    /// <summary>The answer's body as text, or null when it is longer than <paramref name="max"/> bytes.</summary>
    public static async Task<string?> ReadAsync(HttpResponseMessage response, int max, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        return await ReadAsync(stream, response.Content.Headers.ContentLength, max, ct) is { } bytes ? Encoding.UTF8.GetString(bytes) : null;
    }

    /// <summary>At most <paramref name="max"/> bytes of a stream; null when there are more (or the declared length says so).</summary>
    public static async Task<byte[]?> ReadAsync(Stream stream, long? length, int max, CancellationToken ct)
    {
        if (length > max)
            return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > max)
                return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>What went wrong with a call, for a log: the status, the timeout, or the network's error.</summary>
    public static string Describe(Exception e, TimeSpan timeout) => e switch
    {
        OperationCanceledException => $"No answer within {timeout.TotalSeconds:0.###} s.",
        HttpRequestException { InnerException: WebhookTargetRefusedException refused } => refused.Message,
        HttpRequestException h => h.HttpRequestError == HttpRequestError.Unknown ? h.Message : $"{h.HttpRequestError}: {h.Message}",
        _ => e.Message,
    };

    public void Dispose() => Client.Dispose();
}
