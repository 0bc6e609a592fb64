using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace StoreLink.Tests.Infrastructure;

/// <summary>One request a receiver got, with whether its signature held (checked here, without the server's code).</summary>
public sealed record ReceivedHook(string Id, long Timestamp, string Signature, string Body, int Answered, bool SignatureValid, DateTimeOffset At)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;
    public string Type => Json.GetProperty("type").GetString()!;
}

/// <summary>
/// A store's webhook endpoint: a small ASP.NET Core app on Kestrel at 127.0.0.1 that records every request and answers
/// as told — 204, a failing status, slowly, or not before the sender gives up.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedHook> _received = new();
    private int _requests;

    /// <summary>Decides each answer from the request's number (1-based): a status, and how long to wait first.</summary>
    public Func<int, (int Status, TimeSpan Delay)> Behaviour { get; set; } = _ => (204, TimeSpan.Zero);

    /// <summary>The subscription's secret, for checking signatures (<c>whsec_</c> + base64 key).</summary>
    public string? Secret { get; set; }

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri Url => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hooks");

    public IReadOnlyList<ReceivedHook> Received => [.. _received];

    /// <summary>What a de-duplicating receiver processed: the first accepted (2xx) request of each webhook-id.</summary>
    public IReadOnlyList<ReceivedHook> Accepted => [.. _received.Where(r => r.Answered is >= 200 and < 300).GroupBy(r => r.Id).Select(g => g.First())];

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hooks", receiver.HandleAsync);
        await app.StartAsync();
        return receiver;
    }

    private async Task HandleAsync(HttpContext http)
    {
        var n = Interlocked.Increment(ref _requests);
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var (status, delay) = Behaviour(n);
        var id = http.Request.Headers["webhook-id"].ToString();
        var timestamp = long.TryParse(http.Request.Headers["webhook-timestamp"].ToString(), out var ts) ? ts : 0;
        var signature = http.Request.Headers["webhook-signature"].ToString();
        _received.Enqueue(new ReceivedHook(id, timestamp, signature, body, status, Verify(id, timestamp, body, signature), DateTimeOffset.UtcNow));
        if (delay > TimeSpan.Zero)
            await Task.Delay(delay, http.RequestAborted).ContinueWith(_ => { });
        if (!http.RequestAborted.IsCancellationRequested)
            http.Response.StatusCode = status;
    }

    /// <summary>Standard Webhooks verification as a receiver writes it: HMAC-SHA256 with the base64 key, over id.timestamp.body.</summary>
    private bool Verify(string id, long timestamp, string body, string header)
    {
        if (Secret is null)
            return false;
        var key = Convert.FromBase64String(Secret["whsec_".Length..]);
        var expected = Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
        return header.Split(' ').Any(s => s.StartsWith("v1,", StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s[3..]), Encoding.ASCII.GetBytes(expected)));
    }

    /// <summary>Waits until <paramref name="done"/> holds for what was received, doing <paramref name="meanwhile"/> between looks.</summary>
    public async Task WaitForAsync(Func<WebhookReceiver, bool> done, TimeSpan? timeout = null, Action? meanwhile = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!done(this))
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"The receiver did not get what was expected; it got: {string.Join(", ", Received.Select(r => $"{r.Type}/{r.Id}/{r.Answered}"))}");
            meanwhile?.Invoke();
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
