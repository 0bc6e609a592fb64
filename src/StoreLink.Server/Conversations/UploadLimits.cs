using System.Data.Common;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;

namespace StoreLink.Server.Conversations;

/// <summary>
/// <c>Uploads:*</c> — how much may be uploaded: per uploader and per store within a sliding <see cref="Window"/>,
/// and per organization in all; and when uploads that nothing refers to are removed. A limit of 0 is no limit.
/// </summary>
public sealed class UploadOptions
{
    public TimeSpan Window { get; set; } = TimeSpan.FromHours(1);
    public int PerUploaderCount { get; set; } = 200;
    public long PerUploaderBytes { get; set; } = 1L << 30;
    public int PerStoreCount { get; set; } = 5000;
    public long PerStoreBytes { get; set; } = 5L << 30;
    public long OrgQuotaBytes { get; set; } = 10L << 30;

    /// <summary>An upload no message, work item, request, customer action or command refers to is removed after this.</summary>
    public TimeSpan OrphanGracePeriod { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often the sweeper looks for such uploads.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Byte limits below the largest attachment would refuse that file for ever.</summary>
    internal bool IsValid(long maxAttachmentBytes) =>
        Window > TimeSpan.Zero && PerUploaderCount >= 0 && PerStoreCount >= 0 && OrgQuotaBytes >= 0 &&
        (PerUploaderBytes is 0 || PerUploaderBytes >= maxAttachmentBytes) && (PerStoreBytes is 0 || PerStoreBytes >= maxAttachmentBytes) &&
        OrphanGracePeriod > TimeSpan.Zero && SweepInterval > TimeSpan.Zero;
}

/// <summary>
/// The upload limits, counted from the <c>attachments</c> rows so every node sees the same counts. An upload is
/// checked twice: before its bytes are read (a caller already at a limit is refused at once) and, with its real size,
/// in the transaction that inserts its row. That transaction is serialized with every other upload's (SQLite's write
/// lock; PostgreSQL's serializable isolation, whose conflicts <see cref="Data.Db.InTransactionAsync{T}"/> retries),
/// so parallel uploads never pass a limit: not by one file, not by one byte.
/// </summary>
public sealed class UploadLimits(TimeProvider clock, IOptions<UploadOptions> options)
{
    /// <summary>
    /// The store an upload counts against: a visitor's or a store-scoped key's store, or the one store a staff member
    /// works in. Signed-in customers of a chain and staff of several stores count against no store (their own limit
    /// and the organization's quota still hold).
    /// </summary>
    public static string? StoreOf(CurrentUser user) =>
        user.StoreId ?? (user.IsStaff && user.StoreIds.Take(2).ToList() is [var only] ? only : null);

    /// <summary>
    /// Throws <c>rate_limited</c> (with the seconds until the window frees) or <c>quota_exceeded</c> when an upload of
    /// <paramref name="size"/> bytes (0: one whose size is not known yet) would pass a limit.
    /// </summary>
    public async Task CheckAsync(DbConnection c, DbTransaction? t, string orgId, string uploaderId, string? storeId, long size, string language, CancellationToken ct)
    {
        var o = options.Value;
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        await CheckWindowAsync(c, t, "uploader_id", uploaderId, o.PerUploaderCount, o.PerUploaderBytes, size, now, language, ct);
        if (storeId is not null)
            await CheckWindowAsync(c, t, "store_id", storeId, o.PerStoreCount, o.PerStoreBytes, size, now, language, ct);
        if (o.OrgQuotaBytes > 0 && await c.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM attachments WHERE org_id = @orgId", new { orgId }, t, cancellationToken: ct)) + size > o.OrgQuotaBytes)
            throw new ApiException(ErrorCodes.QuotaExceeded, Texts.Get(language, "upload_quota_full"));
    }

    private async Task CheckWindowAsync(DbConnection c, DbTransaction? t, string column, string key, int maxCount, long maxBytes, long size, long now,
        string language, CancellationToken ct)
    {
        var window = (long)options.Value.Window.TotalMilliseconds;
        var from = now - window;
        var (count, bytes) = await c.QuerySingleAsync<(long Count, long Bytes)>(new CommandDefinition(
            $"SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM attachments WHERE {column} = @key AND created_at > @from",
            new { key, from }, t, cancellationToken: ct));
        // How many uploads and bytes must leave the window before this one fits.
        var countOver = maxCount > 0 ? count + 1 - maxCount : 0;
        var bytesOver = maxBytes > 0 ? bytes + size - maxBytes : 0;
        if (countOver <= 0 && bytesOver <= 0)
            return;
        var frees = await c.ExecuteScalarAsync<long?>(new CommandDefinition($"""
            SELECT MIN(created_at) FROM (
                SELECT created_at, COUNT(*) OVER (ORDER BY created_at, id) AS n, SUM(size) OVER (ORDER BY created_at, id) AS b
                FROM attachments WHERE {column} = @key AND created_at > @from) w
            WHERE n >= @countOver AND b >= @bytesOver
            """, new { key, from, countOver, bytesOver }, t, cancellationToken: ct)) ?? now;
        var seconds = (int)Math.Max(1, Math.Ceiling((frees + window - now) / 1000.0));
        throw new ApiException(ErrorCodes.RateLimited, Texts.Get(language, "upload_rate_limited", ("minutes", ((seconds + 59) / 60).ToString(System.Globalization.CultureInfo.InvariantCulture))))
        {
            RetryAfterSeconds = seconds,
        };
    }
}
