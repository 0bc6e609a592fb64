using System.Data.Common;
using Dapper;

namespace StoreLink.Server.Data;

/// <summary>
/// On SQLite, moves the bulk of WAL checkpointing off the committing connections. Every connection runs with
/// <c>wal_autocheckpoint=0</c>; otherwise the commit that crosses 1,000 WAL pages copies them into the database file
/// and syncs it before it returns, and the message writer, with every send queued behind it, stalls for that long
/// (about 14 times a second at 5,000 messages/s). Instead this service checkpoints every 250 ms on a connection of
/// its own (<c>PASSIVE</c>: it neither waits for nor blocks writers and readers). Under a steady stream of commits such
/// a checkpoint never quite catches up, and the WAL is reused from its start only once one has, so after each one the
/// message writer checkpoints the short tail itself right after its next commit (<see cref="TakeTail"/>), when no
/// other commit can come between. Should the WAL still grow past <see cref="MaxWalFrames"/> (a long reader, another
/// busy writer), a <c>RESTART</c> checkpoint waits for the writers once. At shutdown it is checkpointed and truncated.
/// </summary>
public sealed class SqliteCheckpointer(Db db, ILogger<SqliteCheckpointer> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);
    private const long MaxWalFrames = 65_536; // 256 MiB of 4 KiB pages
    private int _tail;

    /// <summary>True once after each background checkpoint: the caller (right after a commit) should checkpoint the rest.</summary>
    public bool TakeTail() => Interlocked.Exchange(ref _tail, 0) == 1;

    /// <summary>The writer's own checkpoint of the tail, on its connection, after its commit.</summary>
    public void CheckpointTail(DbConnection connection)
    {
        try
        {
            connection.Execute("PRAGMA wal_checkpoint(PASSIVE)");
        }
        catch (DbException e)
        {
            logger.LogWarning(e, "A WAL checkpoint after a commit failed; the next one tries again");
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (db.Dialect.IsPostgres)
            return;
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var walFrames = await CheckpointAsync("PASSIVE");
                Volatile.Write(ref _tail, 1);
                if (walFrames > MaxWalFrames)
                    await CheckpointAsync("RESTART");
            }
        }
        catch (OperationCanceledException)
        {
        }
        await CheckpointAsync("TRUNCATE");
    }

    /// <summary>One checkpoint; the WAL's length in frames (-1 when it failed).</summary>
    private async Task<long> CheckpointAsync(string mode)
    {
        try
        {
            await using var connection = await db.OpenAsync();
            // (busy, frames in the WAL, frames checkpointed)
            var result = await connection.QuerySingleAsync<(long Busy, long Log, long Checkpointed)>($"PRAGMA wal_checkpoint({mode})");
            return result.Log;
        }
        catch (Exception e) when (e is DbException or DatabaseUnavailableException)
        {
            logger.LogWarning(e, "A WAL checkpoint ({Mode}) failed; the next one tries again", mode);
            return -1;
        }
    }
}
