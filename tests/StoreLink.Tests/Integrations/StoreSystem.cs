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

namespace StoreLink.Tests.Integrations;

/// <summary>One call StoreLink made to the store's system, with whether its signature and timestamp held (checked here, independently).</summary>
public sealed record SystemCall(string Method, string Path, string Query, string Id, string? IdempotencyKey, string Body, bool SignatureValid, bool TimestampValid, int Answered)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;
    public string? Cursor => System.Web.HttpUtility.ParseQueryString(Query).Get("cursor");
}

/// <summary>What the system answers: a status, a JSON body (or none), and how long it takes first.</summary>
public sealed record SystemAnswer(int Status, object? Body = null, TimeSpan Delay = default, Task? Until = null);

/// <summary>
/// A store's own system as StoreLink's connector sees it — the external party, so a fixture: a small ASP.NET Core app
/// on Kestrel at 127.0.0.1 serving <c>GET /storelink/changes</c>, <c>POST /storelink/commands</c> and
/// <c>GET /storelink/customers/{id}</c> as the test tells it, recording every call and checking its signature.
/// </summary>
public sealed class StoreSystem : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<SystemCall> _calls = new();
    private int _changes, _commands, _customers;

    private StoreSystem(WebApplication app) => _app = app;

    /// <summary>The connector's secret, for checking signatures.</summary>
    public string? Secret { get; set; }

    /// <summary>The clock of the server under test, for checking webhook-timestamp.</summary>
    public Func<DateTimeOffset> Clock { get; set; } = () => DateTimeOffset.UtcNow;

    /// <summary>The changes feed: (cursor, the call's number) → answer.</summary>
    public Func<string?, int, SystemAnswer> Changes { get; set; } = (_, _) => new SystemAnswer(200, new { events = Array.Empty<object>(), next_cursor = (string?)null, has_more = false });

    /// <summary>Commands: (the command's JSON, the call's number) → answer.</summary>
    public Func<JsonElement, int, SystemAnswer> Commands { get; set; } = (_, _) => new SystemAnswer(200, new { status = "done", result = new { } });

    /// <summary>Customer profiles: (external id, the call's number) → answer.</summary>
    public Func<string, int, SystemAnswer> Customers { get; set; } = (_, _) => new SystemAnswer(404);

    public Uri BaseUrl => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/storelink/");

    public IReadOnlyList<SystemCall> Calls => [.. _calls];

    public IReadOnlyList<SystemCall> CallsTo(string path) => [.. _calls.Where(c => c.Path == "/storelink/" + path || c.Path.StartsWith("/storelink/" + path + "/"))];

    public static async Task<StoreSystem> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var system = new StoreSystem(app);
        app.MapGet("/storelink/changes", (HttpContext http) => system.HandleAsync(http, () =>
            system.Changes(http.Request.Query["cursor"].FirstOrDefault(), Interlocked.Increment(ref system._changes))));
        app.MapPost("/storelink/commands", (HttpContext http) => system.HandleAsync(http, body =>
            system.Commands(JsonDocument.Parse(body).RootElement.Clone(), Interlocked.Increment(ref system._commands))));
        app.MapGet("/storelink/customers/{id}", (HttpContext http, string id) => system.HandleAsync(http, () =>
            system.Customers(id, Interlocked.Increment(ref system._customers))));
        await app.StartAsync();
        return system;
    }

    private Task HandleAsync(HttpContext http, Func<SystemAnswer> answer) => HandleAsync(http, _ => answer());

    private async Task HandleAsync(HttpContext http, Func<string, SystemAnswer> answer)
    {
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var id = http.Request.Headers["webhook-id"].ToString();
        var timestamp = long.TryParse(http.Request.Headers["webhook-timestamp"].ToString(), out var ts) ? ts : 0;
        var signed = Verify(id, timestamp, body, http.Request.Headers["webhook-signature"].ToString());
        var timely = Math.Abs(Clock().ToUnixTimeSeconds() - timestamp) <= 300;
        var decided = answer(body);
        _calls.Enqueue(new SystemCall(http.Request.Method, http.Request.Path, http.Request.QueryString.Value ?? "", id,
            http.Request.Headers["Idempotency-Key"].FirstOrDefault(), body, signed, timely, decided.Status));
        try
        {
            if (decided.Delay > TimeSpan.Zero)
                await Task.Delay(decided.Delay, http.RequestAborted);
            if (decided.Until is not null)
                await decided.Until.WaitAsync(http.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            return; // StoreLink gave up waiting
        }
        http.Response.StatusCode = decided.Status;
        if (decided.Body is not null)
            await http.Response.WriteAsJsonAsync(decided.Body, http.RequestAborted);
    }

    private bool Verify(string id, long timestamp, string body, string header)
    {
        if (Secret is null)
            return false;
        var expected = Hooks.Sign(Secret, id, timestamp, body);
        return header.Split(' ').Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), Encoding.ASCII.GetBytes(expected)));
    }

    public async Task WaitForAsync(Func<StoreSystem, bool> done, TimeSpan? timeout = null, Action? meanwhile = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!done(this))
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException("The store's system did not get what was expected; it got: " + string.Join(", ", Calls.Select(c => $"{c.Method} {c.Path}{c.Query} → {c.Answered}")));
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
