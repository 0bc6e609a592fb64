using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using StoreLink.Protocol;

namespace StoreLink.Client;

/// <summary>
/// The StoreLink .NET SDK: signs in and calls the REST API. One instance per signed-in user;
/// thread-safe once signed in.
/// </summary>
public sealed class StoreLinkClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <summary>A client for the server at <paramref name="baseAddress"/> (for example <c>http://localhost:5080</c>).</summary>
    public StoreLinkClient(Uri baseAddress) : this(new HttpClient { BaseAddress = baseAddress }, ownsHttp: true) { }

    /// <summary>A client over an <see cref="HttpClient"/> whose <c>BaseAddress</c> is the server.</summary>
    public StoreLinkClient(HttpClient http) : this(http, ownsHttp: false) { }

    private StoreLinkClient(HttpClient http, bool ownsHttp)
    {
        _http = http;
        _ownsHttp = ownsHttp;
    }

    /// <summary>The server's address.</summary>
    public Uri BaseAddress => _http.BaseAddress ?? throw new InvalidOperationException("The HttpClient has no BaseAddress.");

    /// <summary>The current access token or API key, if any.</summary>
    public string? AccessToken { get; private set; }

    /// <summary>Who is signed in, after a sign-in call.</summary>
    public UserDto? User { get; private set; }

    /// <summary>Uses an existing access token or an integration's API key.</summary>
    public void UseToken(string token) => AccessToken = token;

    /// <summary>Staff sign-in with login and password.</summary>
    public Task<TokenResponse> LoginAsync(string login, string password, CancellationToken ct = default) =>
        SignInAsync("/v1/auth/login", new LoginRequest(login, password), ct);

    /// <summary>An anonymous visitor of a store.</summary>
    public Task<TokenResponse> VisitorAsync(string storeKey, CancellationToken ct = default) =>
        SignInAsync("/v1/auth/visitor", new VisitorRequest(storeKey), ct);

    /// <summary>A customer, with an identity token that the store's backend signed.</summary>
    public Task<TokenResponse> CustomerAsync(string storeKey, string identityToken, CancellationToken ct = default) =>
        SignInAsync("/v1/auth/customer", new CustomerAuthRequest(storeKey, identityToken), ct);

    /// <summary>Who the current token belongs to.</summary>
    public Task<UserDto> MeAsync(CancellationToken ct = default) => GetAsync<UserDto>("/v1/me", ct);

    /// <summary>Revokes the current token on the server, everywhere at once.</summary>
    public async Task LogoutAsync(CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Post, "/v1/auth/logout", null, ct);
        AccessToken = null;
        User = null;
    }

    /// <summary>A customer's open service conversation with a store, created when there is none.</summary>
    public Task<ConversationDto> OpenConversationAsync(string storeKey, CancellationToken ct = default) =>
        PostAsync<ConversationDto>("/v1/conversations", new CreateConversationRequest(storeKey, null, null, null, null), ct);

    /// <summary>The direct conversation with another staff member.</summary>
    public Task<ConversationDto> OpenDirectAsync(string userId, CancellationToken ct = default) =>
        PostAsync<ConversationDto>("/v1/conversations", new CreateConversationRequest(null, "direct", userId, null, null), ct);

    /// <summary>A new group conversation of staff.</summary>
    public Task<ConversationDto> CreateGroupAsync(string name, IEnumerable<string> memberIds, CancellationToken ct = default) =>
        PostAsync<ConversationDto>("/v1/conversations", new CreateConversationRequest(null, "group", null, name, memberIds.ToList()), ct);

    /// <summary>The caller's conversations, most recently active first.</summary>
    public Task<List<ConversationDto>> GetConversationsAsync(CancellationToken ct = default) => GetAsync<List<ConversationDto>>("/v1/conversations", ct);

    /// <summary>Messages after a seq (ascending) — or, with <paramref name="beforeSeq"/>, before it (descending).</summary>
    public Task<List<MessageDto>> GetMessagesAsync(string conversationId, long? afterSeq = null, int limit = 50, CancellationToken ct = default, long? beforeSeq = null) =>
        GetAsync<List<MessageDto>>($"/v1/conversations/{Uri.EscapeDataString(conversationId)}/messages?" +
            (beforeSeq is not null ? $"before_seq={beforeSeq}" : $"after_seq={afterSeq ?? 0}") + $"&limit={limit}", ct);

    /// <summary>Sends over REST (no socket needed); repeat with the same <paramref name="clientMsgId"/> to retry safely.</summary>
    public Task<MessageDto> SendMessageAsync(string conversationId, string kind, object body, string clientMsgId, CancellationToken ct = default) =>
        PostAsync<MessageDto>($"/v1/conversations/{Uri.EscapeDataString(conversationId)}/messages",
            new SendMessageRequest(clientMsgId, kind, JsonSerializer.SerializeToElement(body, body.GetType(), ProtocolJson.Options)), ct);

    /// <summary>Starts a call in a conversation; it rings whom docs/protocol.md "Calls" names. <paramref name="deviceId"/> is this app instance's.</summary>
    public Task<CallDto> StartCallAsync(string conversationId, string media, string deviceId, CancellationToken ct = default) =>
        PostAsync<CallDto>($"/v1/conversations/{Uri.EscapeDataString(conversationId)}/calls", new StartCallRequest(media, deviceId), ct);

    /// <summary>A call of a conversation the caller sees, with its participants and quality.</summary>
    public Task<CallDto> GetCallAsync(string callId, CancellationToken ct = default) => GetAsync<CallDto>($"/v1/calls/{Uri.EscapeDataString(callId)}", ct);

    /// <summary>Joins a call that rings this user, from this device.</summary>
    public Task<CallDto> AcceptCallAsync(string callId, string deviceId, CancellationToken ct = default) =>
        PostAsync<CallDto>($"/v1/calls/{Uri.EscapeDataString(callId)}/accept", new AcceptCallRequest(deviceId), ct);

    /// <summary>Declines a call that rings this user.</summary>
    public Task<CallDto> DeclineCallAsync(string callId, CancellationToken ct = default) =>
        PostAsync<CallDto>($"/v1/calls/{Uri.EscapeDataString(callId)}/decline", new { }, ct);

    /// <summary>Leaves (or, while it rings, cancels) a call; <paramref name="reason"/>: <c>failed</c> or <c>lost</c> when the app knows it.</summary>
    public Task<CallDto> HangupCallAsync(string callId, string? reason = null, CancellationToken ct = default) =>
        PostAsync<CallDto>($"/v1/calls/{Uri.EscapeDataString(callId)}/hangup", new HangupCallRequest(reason), ct);

    /// <summary>Uploads a file (streamed); reference its id in an image, voice, video or file message.</summary>
    public async Task<AttachmentDto> UploadAttachmentAsync(Stream content, string fileName, string contentType, CancellationToken ct = default)
    {
        using var form = new MultipartFormDataContent();
        var file = new StreamContent(content);
        file.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        form.Add(file, "file", fileName);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/attachments") { Content = form };
        using var response = await SendRequestAsync(request, ct);
        return await ReadAsync<AttachmentDto>(response, ct);
    }

    /// <summary>Downloads an attachment's bytes (the caller disposes the stream).</summary>
    public async Task<Stream> DownloadAttachmentAsync(string attachmentId, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/attachments/{Uri.EscapeDataString(attachmentId)}");
        var response = await SendRequestAsync(request, ct, HttpCompletionOption.ResponseHeadersRead);
        return await response.Content.ReadAsStreamAsync(ct);
    }

    /// <summary>GET a JSON resource of the API.</summary>
    public async Task<T> GetAsync<T>(string path, CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, ct);
        return await ReadAsync<T>(response, ct);
    }

    /// <summary>
    /// POST a JSON body to the API and read the answer. With <paramref name="idempotencyKey"/> a retry of the same
    /// request answers what the first one did (<c>Idempotency-Key</c>, docs/integration.md).
    /// </summary>
    public async Task<T> PostAsync<T>(string path, object body, CancellationToken ct = default, string? idempotencyKey = null)
    {
        using var response = await SendAsync(HttpMethod.Post, path, body, ct, idempotencyKey);
        return await ReadAsync<T>(response, ct);
    }

    /// <summary>PATCH a JSON body (members left out keep their values) and read the answer; <paramref name="idempotencyKey"/> as for POST.</summary>
    public async Task<T> PatchAsync<T>(string path, object body, CancellationToken ct = default, string? idempotencyKey = null)
    {
        using var response = await SendAsync(HttpMethod.Patch, path, body, ct, idempotencyKey);
        return await ReadAsync<T>(response, ct);
    }

    /// <summary>PUT a JSON body and read the answer.</summary>
    public async Task<T> PutAsync<T>(string path, object body, CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Put, path, body, ct);
        return await ReadAsync<T>(response, ct);
    }

    /// <summary>DELETE a resource of the API.</summary>
    public async Task DeleteAsync(string path, CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Delete, path, null, ct);
    }

    /// <summary>
    /// Sends one event of a store's system to its connector's inbound hook (<c>POST /v1/hooks/{connectorId}</c>),
    /// signed with the connector's secret; <paramref name="eventJson"/> is sent exactly as given and its <c>id</c>
    /// member must be <paramref name="eventId"/>. No bearer token is sent. Answers the status and the body: 200 with
    /// <c>result</c> <c>applied</c> or <c>stale</c>, 409 <c>replayed</c> (StoreLink had it: treat as delivered), or
    /// a refusal. <paramref name="now"/> is the signing time (default: the machine's clock).
    /// </summary>
    public async Task<HookAnswer> SendHookAsync(string connectorId, string secret, string eventId, string eventJson, DateTimeOffset? now = null, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/hooks/{Uri.EscapeDataString(connectorId)}")
        {
            Content = new StringContent(eventJson, System.Text.Encoding.UTF8, "application/json"),
        };
        foreach (var (name, value) in WebhookSignature.Headers(secret, eventId, now ?? DateTimeOffset.UtcNow, eventJson))
            request.Headers.TryAddWithoutValidation(name, value);
        using var response = await _http.SendAsync(request, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        JsonElement json = default;
        try
        {
            if (body.Length > 0)
                json = JsonDocument.Parse(body).RootElement.Clone();
        }
        catch (JsonException)
        {
        }
        return new HookAnswer((int)response.StatusCode, json);
    }

    private async Task<TokenResponse> SignInAsync(string path, object body, CancellationToken ct)
    {
        var answer = await PostAsync<TokenResponse>(path, body, ct);
        AccessToken = answer.AccessToken;
        User = answer.User;
        return answer;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object? body, CancellationToken ct, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        if (body is not null)
            request.Content = JsonContent.Create(body, body.GetType(), options: ProtocolJson.Options);
        return await SendRequestAsync(request, ct);
    }

    private async Task<HttpResponseMessage> SendRequestAsync(HttpRequestMessage request, CancellationToken ct, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        if (AccessToken is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AccessToken);
        var response = await _http.SendAsync(request, completion, ct);
        if (response.IsSuccessStatusCode)
            return response;
        using (response)
            throw await ErrorAsync(response, ct);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct) =>
        await response.Content.ReadFromJsonAsync<T>(ProtocolJson.Options, ct)
        ?? throw new StoreLinkException(ErrorCodes.Internal, (int)response.StatusCode, "The server answered with an empty body.");

    private static async Task<StoreLinkException> ErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        try
        {
            var problem = await response.Content.ReadFromJsonAsync<Problem>(ProtocolJson.Options, ct);
            return new StoreLinkException(problem?.Code ?? ErrorCodes.ForStatus(status), status, problem?.Title ?? response.ReasonPhrase ?? "Error", problem?.Errors)
            {
                RetryAfter = response.Headers.RetryAfter?.Delta,
            };
        }
        catch (JsonException)
        {
            return new StoreLinkException(ErrorCodes.ForStatus(status), status, response.ReasonPhrase ?? "Error");
        }
    }

    private sealed record Problem(string? Code, string? Title, Dictionary<string, string[]>? Errors);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsHttp)
            _http.Dispose();
    }
}

/// <summary>StoreLink's answer to an inbound hook event: the HTTP status and the JSON body.</summary>
/// <param name="Status">200 applied or stale; 409 replayed; 400, 401 or 422 refused.</param>
/// <param name="Body">The answer: <c>{"result":…}</c> or a problem document with <c>code</c>.</param>
public sealed record HookAnswer(int Status, JsonElement Body)
{
    /// <summary>StoreLink holds the event: applied now, older than what it has, or received before.</summary>
    public bool Delivered => Status == 200 || (Status == 409 && Code == "replayed");

    /// <summary><c>result</c> of a 200 answer (<c>applied</c>, <c>stale</c>), or the problem's <c>code</c>.</summary>
    public string? Code => Body.ValueKind == JsonValueKind.Object
        ? (Body.TryGetProperty("result", out var r) ? r.GetString() : Body.TryGetProperty("code", out var c) ? c.GetString() : null)
        : null;
}
