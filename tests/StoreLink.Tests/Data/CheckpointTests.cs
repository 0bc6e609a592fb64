using System.Buffers.Binary;
using Dapper;
using Microsoft.Data.Sqlite;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Data;

/// <summary>
/// SQLite's WAL is checkpointed by the server's checkpointer, not by the committing connections: under a stream of
/// sends the WAL is still reused from its start again and again (not left to grow), and at shutdown it is written
/// back and truncated, with every acknowledged message in the database.
/// </summary>
public sealed class CheckpointTests
{
    /// <summary>The WAL header's checkpoint sequence number: it goes up each time the WAL is reused from its start.</summary>
    private static uint WalGeneration(string wal)
    {
        using var file = new FileStream(wal, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var header = new byte[32];
        file.ReadExactly(header);
        return BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
    }

    [Fact]
    public async Task Under_a_stream_of_sends_the_wal_is_reused_and_at_shutdown_it_is_written_back_and_truncated()
    {
        await using var database = await TestDatabases.CreateAsync(TestDatabases.Sqlite);
        var wal = Path.Combine(database.DataDirectory, "storelink.db-wal");
        var acked = 0;
        long largest = 0;
        await using (var app = new StoreLinkApp(database, keepDatabase: true))
        {
            app.Start();
            var senders = new List<(HttpClient Customer, string ConversationId)>();
            foreach (var store in new[] { "demo-digital", "demo-bags", "demo-shoes" })
                for (var i = 0; i < 2; i++)
                {
                    var visitor = await app.VisitorAsync(store);
                    senders.Add((visitor, (await visitor.PostJsonAsync("/v1/conversations", new { store_key = store })).Str("id")));
                }
            var before = WalGeneration(wal);
            var until = DateTime.UtcNow.AddSeconds(6);
            await Task.WhenAll(senders.Select(async s =>
            {
                for (var n = 0; DateTime.UtcNow < until; n++)
                {
                    Assert.Equal(201, (await MessagingTests.SendAsync(s.Customer, s.ConversationId, $"第 {n} 条：屏幕有一条竖线", $"wal-{s.ConversationId}-{n}")).Status);
                    Interlocked.Increment(ref acked);
                    if (n % 50 == 0)
                        Interlocked.Exchange(ref largest, Math.Max(Interlocked.Read(ref largest), new FileInfo(wal).Length));
                }
            }));
            // Another checkpoint or two after the load: the WAL has been reused since it began.
            await Task.Delay(1500);
            Assert.True(WalGeneration(wal) > before, $"the WAL was never reused from its start ({acked} messages, {largest / 1024} KiB at most)");
            TestContext.Current.TestOutputHelper?.WriteLine($"{acked} messages; WAL at most {largest / 1024} KiB; reused {WalGeneration(wal) - before} times");
        }

        // Shut down: checkpointed and truncated, and every acknowledged message is in the database file.
        Assert.True(!File.Exists(wal) || new FileInfo(wal).Length == 0, $"the WAL is {new FileInfo(wal).Length} bytes after shutdown");
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(database.DataDirectory, "storelink.db")};Pooling=false");
        var stored = await connection.QuerySingleAsync<long>("SELECT COUNT(*) FROM messages WHERE client_msg_id LIKE 'wal-%'");
        Assert.Equal(acked, stored);
    }
}
