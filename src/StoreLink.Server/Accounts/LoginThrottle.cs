using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

/// <summary>
/// Limits password checks in fixed windows, in the database so that every node sees the same counts. Each check first
/// reserves a slot, atomically, under three keys: the account from this address (the tight limit), the account from all
/// addresses (a wider one, so strangers elsewhere do not lock its owner out) and the address over all accounts. Past a
/// limit the attempt is refused with 429 before the password is checked, however many arrive at once. A failed check
/// keeps its slots; a successful one gives them back and clears its (account, address) count.
/// </summary>
public sealed class LoginThrottle(Db db, TimeProvider clock, IOptions<AuthOptions> options)
{
    // RETURNING the count after this attempt: the row lock (PostgreSQL) or the write lock (SQLite) orders concurrent
    // attempts, so each sees a different count and no more than the limit get through.
    private const string ReserveSql = """
        INSERT INTO login_throttle (throttle_key, window_start, failures) VALUES (@key, @now, 1)
        ON CONFLICT (throttle_key) DO UPDATE SET
            failures = CASE WHEN login_throttle.window_start <= @expired THEN 1 ELSE login_throttle.failures + 1 END,
            window_start = CASE WHEN login_throttle.window_start <= @expired THEN @now ELSE login_throttle.window_start END
        RETURNING failures, window_start
        """;

    public const string AddressScope = "address";

    /// <summary>Which limit a key stands for; the name appears in the audit log of a lock-out.</summary>
    public sealed record Key(string Value, string Scope, int Limit);

    /// <summary>The slots one attempt holds, and the keys this attempt filled up (a failure locks them).</summary>
    public sealed record Reservation(Key[] Keys, Key[] FilledUp);

    /// <summary>Reserves one attempt under every key, or throws <c>rate_limited</c> (and reserves nothing) when one is full.</summary>
    public async Task<Reservation> ReserveAsync(string login, string? address, CancellationToken ct)
    {
        var o = options.Value;
        Key[] keys =
        [
            new("pair:" + login + "|" + (address ?? "unknown"), "account_address", o.MaxFailuresPerAccount),
            new("login:" + login, "account", o.MaxFailuresPerAccountAllAddresses),
            new("ip:" + (address ?? "unknown"), AddressScope, o.MaxFailuresPerAddress),
        ];
        var now = Now;
        return await db.InTransactionAsync(async (c, t) =>
        {
            var filled = new List<Key>();
            // Always in this order (pair, account, address), so concurrent attempts never wait on each other in a cycle.
            foreach (var key in keys)
            {
                var (count, windowStart) = await c.QuerySingleAsync<(long, long)>(ReserveSql, new { key = key.Value, now, expired = now - Window }, t);
                if (count > key.Limit)
                    throw new ApiException(ErrorCodes.RateLimited, "Too many failed logins; wait before trying again.")
                    {
                        RetryAfterSeconds = (int)Math.Max(1, Math.Ceiling((windowStart + Window - now) / 1000.0)),
                    };
                if (count == key.Limit)
                    filled.Add(key);
            }
            return new Reservation(keys, filled.ToArray());
        }, ct);
    }

    /// <summary>The password was right: the attempt was no failure. Its address starts afresh for this account.</summary>
    public Task ReleaseAsync(Reservation reservation, CancellationToken ct) => db.InTransactionAsync(async (c, t) =>
    {
        await c.ExecuteAsync("DELETE FROM login_throttle WHERE throttle_key = @key", new { key = reservation.Keys[0].Value }, t);
        foreach (var key in reservation.Keys.Skip(1))
            await c.ExecuteAsync("UPDATE login_throttle SET failures = failures - 1 WHERE throttle_key = @key AND failures > 0",
                new { key = key.Value }, t);
    }, ct);

    /// <summary>Forgets windows that have ended (run periodically).</summary>
    public Task<int> SweepAsync(CancellationToken ct) =>
        db.ExecuteAsync("DELETE FROM login_throttle WHERE window_start <= @expired", new { expired = Now - Window }, ct);

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();
    private long Window => (long)options.Value.LoginWindow.TotalMilliseconds;
}
