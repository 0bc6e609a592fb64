using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

/// <summary>
/// Counts failed logins per account and per client address in fixed windows, in the database so that
/// every node sees the same counts. Past the limit a login is refused with 429 before the password is checked.
/// </summary>
public sealed class LoginThrottle(Db db, TimeProvider clock, IOptions<AuthOptions> options)
{
    private const string RecordFailureSql = """
        INSERT INTO login_throttle (throttle_key, window_start, failures) VALUES (@key, @now, 1)
        ON CONFLICT (throttle_key) DO UPDATE SET
            failures = CASE WHEN login_throttle.window_start <= @expired THEN 1 ELSE login_throttle.failures + 1 END,
            window_start = CASE WHEN login_throttle.window_start <= @expired THEN @now ELSE login_throttle.window_start END
        """;

    public static string AccountKey(string login) => "login:" + login;
    public static string AddressKey(string? address) => "ip:" + (address ?? "unknown");

    /// <summary>Throws <c>rate_limited</c> when either key is over its limit in the current window.</summary>
    public async Task CheckAsync(string accountKey, string addressKey, CancellationToken ct)
    {
        var now = Now;
        var rows = await db.QueryAsync<(string Key, long WindowStart, long Failures)>(
            "SELECT throttle_key, window_start, failures FROM login_throttle WHERE throttle_key IN (@accountKey, @addressKey)",
            new { accountKey, addressKey }, ct);
        foreach (var row in rows)
        {
            var limit = row.Key == accountKey ? options.Value.MaxFailuresPerAccount : options.Value.MaxFailuresPerAddress;
            var endsAt = row.WindowStart + Window;
            if (endsAt > now && row.Failures >= limit)
                throw new ApiException(ErrorCodes.RateLimited, "Too many failed logins; wait before trying again.")
                {
                    RetryAfterSeconds = (int)Math.Ceiling((endsAt - now) / 1000.0),
                };
        }
    }

    public async Task RecordFailureAsync(string accountKey, string addressKey, CancellationToken ct)
    {
        var now = Now;
        foreach (var key in new[] { accountKey, addressKey })
            await db.ExecuteAsync(RecordFailureSql, new { key, now, expired = now - Window }, ct);
    }

    public Task ClearAsync(string accountKey, CancellationToken ct) =>
        db.ExecuteAsync("DELETE FROM login_throttle WHERE throttle_key = @accountKey", new { accountKey }, ct);

    /// <summary>Forgets windows that have ended (run periodically).</summary>
    public Task<int> SweepAsync(CancellationToken ct) =>
        db.ExecuteAsync("DELETE FROM login_throttle WHERE window_start <= @expired", new { expired = Now - Window }, ct);

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();
    private long Window => (long)options.Value.LoginWindow.TotalMilliseconds;
}
