using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Server.Data;

namespace StoreLink.Server.Conversations;

/// <summary>
/// Removes uploads that nothing refers to once they are older than <c>Uploads:OrphanGracePeriod</c>: the row, and the
/// file when no row of its content is left. Referred to is: linked to any message (a recalled one too: its files are
/// kept with it), or named by a work item, a request for approval, a work item's timeline (a customer action's photos)
/// or a command to a store's system (the customer's action as sent, applied when the system answers). Every node runs
/// it; two nodes deleting the same row at once is harmless.
/// </summary>
public sealed partial class AttachmentSweeper(Db db, AttachmentStore store, TimeProvider clock, IOptions<UploadOptions> options, ILogger<AttachmentSweeper> logger)
    : BackgroundService
{
    private const int Batch = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SweepInterval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await SweepAsync(stoppingToken);
                await store.CleanUpLeftoversAsync(options.Value.OrphanGracePeriod, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Sweeping unreferenced attachments failed; will retry");
            }
        }
    }

    /// <summary>One pass over the uploads past the grace period; answers how many were removed.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var cutoff = (clock.GetUtcNow() - options.Value.OrphanGracePeriod).ToUnixTimeMilliseconds();
        var (afterTime, afterId, removed) = (long.MinValue, "", 0);
        while (true)
        {
            // In creation order, resuming after the last one looked at: the ones kept stay behind.
            var batch = await db.QueryAsync<AttachmentRow>($"""
                SELECT {AttachmentRow.Columns} FROM attachments a
                WHERE a.created_at < @cutoff AND (a.created_at > @afterTime OR (a.created_at = @afterTime AND a.id > @afterId))
                  AND NOT EXISTS (SELECT 1 FROM message_attachments m WHERE m.attachment_id = a.id)
                ORDER BY a.created_at, a.id LIMIT {Batch}
                """, new { cutoff, afterTime, afterId }, ct);
            if (batch.Count == 0)
                return removed;
            (afterTime, afterId) = (batch[^1].CreatedAt, batch[^1].Id);
            var named = await NamedElsewhereAsync(batch.Select(a => a.OrgId).Distinct().ToList(), ct);
            foreach (var attachment in batch.Where(a => !named.Contains(a.Id)))
            {
                // A message may have linked it since the batch was read.
                var deleted = await db.ExecuteAsync("""
                    DELETE FROM attachments WHERE id = @id AND NOT EXISTS (SELECT 1 FROM message_attachments WHERE attachment_id = @id)
                    """, new { id = attachment.Id }, ct);
                if (deleted == 0)
                    continue;
                removed++;
                await store.ForgetFileAsync(attachment.Sha256, ct);
            }
            if (batch.Count < Batch)
                return removed;
        }
    }

    /// <summary>The attachment ids that the JSON of the organizations' work items, requests, timelines and commands names.</summary>
    private async Task<HashSet<string>> NamedElsewhereAsync(List<string> orgs, CancellationToken ct)
    {
        var inOrgs = db.Dialect.In("w.org_id", "@orgs");
        var texts = await db.QueryAsync<string>($"""
            SELECT w.attachment_ids FROM work_items w WHERE {inOrgs} AND w.attachment_ids <> '[]'
            UNION ALL
            SELECT r.attachment_ids FROM work_item_requests r JOIN work_items w ON w.id = r.work_item_id WHERE {inOrgs} AND r.attachment_ids <> '[]'
            UNION ALL
            SELECT e.data FROM work_item_events e JOIN work_items w ON w.id = e.work_item_id WHERE {inOrgs} AND e.data LIKE '%att!_%' ESCAPE '!'
            UNION ALL
            SELECT c.action FROM connector_commands c JOIN work_items w ON w.id = c.work_item_id WHERE {inOrgs} AND c.action LIKE '%att!_%' ESCAPE '!'
            """, new { orgs }, ct);
        return texts.SelectMany(t => AttachmentId().Matches(t).Select(m => m.Value)).ToHashSet();
    }

    [GeneratedRegex("att_[0-9A-Z]{26}")]
    private static partial Regex AttachmentId();
}
