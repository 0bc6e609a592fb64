using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Http.Metadata;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;

namespace StoreLink.Server.Http;

/// <summary>
/// <c>Idempotency-Key</c> with Stripe's semantics, as an endpoint filter (<c>.WithIdempotency()</c>): the first answer
/// to a caller's key (status, body, <c>Location</c>) is stored for 24 hours and replayed to every repeat with the same
/// request; the same key with another request (method, path, query or body) is <c>422 unprocessable</c>. A repeat
/// that arrives while the first is running waits for its answer, so concurrent duplicates do the work once. A request
/// that fails with an error (a 4xx problem or a 5xx) stores nothing: its effect did not happen and it may be retried.
/// </summary>
public sealed class IdempotencyFilter(Db db, TimeProvider clock, ILogger<IdempotencyFilter> logger) : IEndpointFilter
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);
    // A first request that has not answered in this long died with its node: a repeat may take the key over.
    private static readonly TimeSpan Stale = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);

    private sealed class KeyRow
    {
        public string RequestHash { get; set; } = "";
        public long StartedAt { get; set; }
        public long? CompletedAt { get; set; }
        public long? StatusCode { get; set; }
        public string? ContentType { get; set; }
        public string? Location { get; set; }
        public string? Body { get; set; }
    }

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (!http.Request.Headers.TryGetValue(Header, out var values))
            return await next(context);
        var key = values.ToString();
        if (key.Length is 0 or > 255 || key.Any(ch => ch is < ' ' or > '~'))
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["Idempotency-Key"] = ["1 to 255 printable ASCII characters."] });
        if (http.Items[CurrentUser.ItemKey] is not CurrentUser user)
            return await next(context);
        var hash = RequestHash(context);
        var args = new { callerId = user.Id, key };

        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
            var row = await db.QuerySingleOrDefaultAsync<KeyRow>("""
                SELECT request_hash, started_at, completed_at, status_code, content_type, location, body FROM idempotency_keys
                WHERE caller_id = @callerId AND idem_key = @key
                """, args, http.RequestAborted);
            if (row is not null && row.StartedAt < now - (long)Lifetime.TotalMilliseconds)
            {
                await db.ExecuteAsync("DELETE FROM idempotency_keys WHERE caller_id = @callerId AND idem_key = @key AND started_at = @startedAt",
                    new { args.callerId, key, startedAt = row.StartedAt }, http.RequestAborted);
                continue;
            }
            if (row is null)
            {
                var taken = await db.ExecuteAsync("""
                    INSERT INTO idempotency_keys (caller_id, idem_key, request_hash, started_at) VALUES (@callerId, @key, @hash, @now)
                    ON CONFLICT (caller_id, idem_key) DO NOTHING
                    """, new { args.callerId, key, hash, now }, http.RequestAborted);
                if (taken == 1)
                    return await RunAsync(context, next, args.callerId, key, now);
                continue;
            }
            if (row.RequestHash != hash)
                throw new ApiException(ErrorCodes.Unprocessable, Texts.Get(user.Language, "idempotency_key_reused"));
            if (row.CompletedAt is not null)
            {
                if (row.Location is not null)
                    http.Response.Headers.Location = row.Location;
                http.Response.Headers[ReplayedHeader] = "true";
                return Results.Text(row.Body ?? "", row.ContentType, Encoding.UTF8, (int?)row.StatusCode);
            }
            if (row.StartedAt < now - (long)Stale.TotalMilliseconds && await db.ExecuteAsync("""
                    UPDATE idempotency_keys SET started_at = @now WHERE caller_id = @callerId AND idem_key = @key AND completed_at IS NULL AND started_at = @startedAt
                    """, new { args.callerId, key, now, startedAt = row.StartedAt }, http.RequestAborted) == 1)
                return await RunAsync(context, next, args.callerId, key, now);
            if (waited.Elapsed > MaxWait)
                throw ApiException.Conflict(Texts.Get(user.Language, "idempotency_in_progress"));
            await Task.Delay(TimeSpan.FromMilliseconds(50), http.RequestAborted);
        }
    }

    /// <summary>Runs the endpoint as the key's owner and stores its answer; an error frees the key again.</summary>
    private async Task<object?> RunAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next, string callerId, string key, long startedAt)
    {
        var http = context.HttpContext;
        var args = new { callerId, key, startedAt };
        object? result;
        try
        {
            result = await next(context);
        }
        catch
        {
            await ReleaseAsync(args);
            throw;
        }
        if (result is not IResult answer)
        {
            await ReleaseAsync(args);
            return result;
        }
        // The answer is written to a buffer first, so the exact bytes the client gets are the ones stored.
        var original = http.Response.Body;
        using var buffer = new MemoryStream();
        http.Response.Body = buffer;
        try
        {
            await answer.ExecuteAsync(http);
        }
        catch
        {
            await ReleaseAsync(args);
            throw;
        }
        finally
        {
            http.Response.Body = original;
        }
        var status = http.Response.StatusCode;
        if (status >= 400)
            await ReleaseAsync(args);
        else
        {
            try
            {
                await db.ExecuteAsync("""
                    UPDATE idempotency_keys SET completed_at = @now, status_code = @status, content_type = @contentType, location = @location, body = @body
                    WHERE caller_id = @callerId AND idem_key = @key AND started_at = @startedAt
                    """, new
                {
                    now = clock.GetUtcNow().ToUnixTimeMilliseconds(), status, contentType = http.Response.ContentType,
                    location = http.Response.Headers.Location.ToString() is { Length: > 0 } l ? l : null,
                    body = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length), callerId, key, startedAt,
                }, CancellationToken.None);
            }
            catch (Exception e)
            {
                // The change is done; a repeat will wait for the stale key and may do it again — say so in the log.
                logger.LogError(e, "Storing the answer of Idempotency-Key {Key} failed", key);
            }
        }
        buffer.Position = 0;
        await buffer.CopyToAsync(original, http.RequestAborted);
        return Results.Empty;
    }

    private async Task ReleaseAsync(object args)
    {
        try
        {
            await db.ExecuteAsync("DELETE FROM idempotency_keys WHERE caller_id = @callerId AND idem_key = @key AND started_at = @startedAt AND completed_at IS NULL",
                args, CancellationToken.None);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Releasing an Idempotency-Key failed; it frees itself after a minute");
        }
    }

    /// <summary>What makes two requests the same: method, path, query, and the bound body (as the server understood it).</summary>
    private static string RequestHash(EndpointFilterInvocationContext context)
    {
        var http = context.HttpContext;
        var bodyTypes = http.GetEndpoint()?.Metadata.GetOrderedMetadata<IAcceptsMetadata>().Select(m => m.RequestType).OfType<Type>().ToHashSet() ?? [];
        var bodies = context.Arguments.Where(a => a is not null && bodyTypes.Contains(a.GetType())).ToArray();
        var text = $"{http.Request.Method} {http.Request.Path}{http.Request.QueryString}\n{JsonSerializer.Serialize(bodies, ProtocolJson.Options)}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}

public static class IdempotencyExtensions
{
    /// <summary>The endpoint honours <c>Idempotency-Key</c>.</summary>
    public static RouteHandlerBuilder WithIdempotency(this RouteHandlerBuilder builder) => builder.AddEndpointFilter<IdempotencyFilter>();
}
