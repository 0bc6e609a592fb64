using System.Net.Http.Json;
using StoreLink.Protocol;

namespace StoreLink.Bench;

/// <summary>One customer–agent pair: the service conversation and the two tokens that open its sockets.</summary>
public sealed record PairSetup(string ConversationId, string CustomerToken, string AgentToken);

/// <summary>Everything the load needs from the target before the first socket opens.</summary>
public sealed record Prepared(IReadOnlyList<PairSetup> Pairs, IReadOnlyList<string> IdleTokens);

/// <summary>
/// Prepares a StoreLink server through its public API, as an org admin would: one store per pair with one agent,
/// so that no agent receives another pair's messages (until routing exists, every staff member of a store receives
/// all of that store's service conversations), and one anonymous visitor per pair with its service conversation.
/// </summary>
public static class StoreLinkSetup
{
    public const string AdminLogin = "admin@demo.local";
    public const string AdminPassword = "demo1234";
    private const string AgentPassword = "bench-password-1234";

    public static async Task<Prepared> PrepareAsync(Uri server, BenchOptions options, string runId, CancellationToken ct)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 8 }) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(60) };
        var admin = await SignInAsync(http, "/v1/auth/login", new LoginRequest(AdminLogin, AdminPassword), ct);

        // Password hashing makes staff creation and sign-in CPU-bound on the server: more than two at once only queue.
        var pairs = new PairSetup[options.Pairs];
        await Parallel.ForEachAsync(Enumerable.Range(0, options.Pairs), new ParallelOptions { MaxDegreeOfParallelism = 2, CancellationToken = ct },
            async (i, token) => pairs[i] = await PreparePairAsync(http, admin, runId, i, token));

        var idleTokens = new List<string>();
        if (options.Idle > 0)
        {
            var store = await CreateStoreAsync(http, admin, $"bench-{runId}-idle", $"Bench {runId} idle visitors", ct);
            var users = Math.Min(options.IdleUsers, options.Idle);
            var tokens = new string[users];
            await Parallel.ForEachAsync(Enumerable.Range(0, users), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct },
                async (i, token) => tokens[i] = await SignInAsync(http, "/v1/auth/visitor", new VisitorRequest(store.StoreKey), token));
            idleTokens.AddRange(tokens);
        }
        return new Prepared(pairs, idleTokens);
    }

    private static async Task<PairSetup> PreparePairAsync(HttpClient http, string admin, string runId, int i, CancellationToken ct)
    {
        var store = await CreateStoreAsync(http, admin, $"bench-{runId}-{i}", $"Bench {runId} store {i}", ct);
        var login = $"agent-{runId}-{i}@bench.local";
        await PostAsync<StaffDto>(http, "/v1/staff", admin,
            new CreateStaffRequest(login, $"Bench agent {i}", AgentPassword, [new RoleDto(store.Id, Roles.Agent)]), ct);
        var agent = await SignInAsync(http, "/v1/auth/login", new LoginRequest(login, AgentPassword), ct);
        var customer = await SignInAsync(http, "/v1/auth/visitor", new VisitorRequest(store.StoreKey), ct);
        var conversation = await PostAsync<ConversationDto>(http, "/v1/conversations", customer,
            new CreateConversationRequest(store.StoreKey, null, null, null, null), ct);
        return new PairSetup(conversation.Id, customer, agent);
    }

    private static Task<StoreDto> CreateStoreAsync(HttpClient http, string admin, string key, string name, CancellationToken ct) =>
        PostAsync<StoreDto>(http, "/v1/stores", admin, new CreateStoreRequest(key, name, null, null, null), ct);

    private static async Task<string> SignInAsync<TBody>(HttpClient http, string path, TBody body, CancellationToken ct) =>
        (await PostAsync<TokenResponse>(http, path, null, body, ct)).AccessToken;

    private static async Task<T> PostAsync<T>(HttpClient http, string path, string? token, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: ProtocolJson.Options) };
        if (token is not null)
            request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode)
            throw new SetupException($"POST {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
        return await response.Content.ReadFromJsonAsync<T>(ProtocolJson.Options, ct)
            ?? throw new SetupException($"POST {path} answered an empty body.");
    }
}

/// <summary>The relay needs no set-up: its tokens name the role and the conversation.</summary>
public static class RelaySetup
{
    public static Prepared Prepare(BenchOptions options) => new(
        [.. Enumerable.Range(0, options.Pairs).Select(i => new PairSetup($"c{i}", $"{Relay.TokenPrefix}customer:c{i}", $"{Relay.TokenPrefix}agent:c{i}"))],
        [.. Enumerable.Range(0, Math.Min(options.IdleUsers, options.Idle)).Select(i => $"{Relay.TokenPrefix}idle:{i}")]);
}
