-- Headless Neovim (0.11) end to end: start `codeward serve` as the buffer's language
-- server, trigger LSP completion in insert mode with Neovim's own vim.lsp.completion,
-- accept the first item with <C-n><C-y>, and write the resulting buffer to $CODEWARD_NVIM_OUT.
local out = assert(os.getenv("CODEWARD_NVIM_OUT"))
local cmd = { os.getenv("CODEWARD_PY"), "-m", "codeward.server.cli", "serve",
              "--model", os.getenv("CODEWARD_MODEL") }
local line = tonumber(os.getenv("CODEWARD_LINE"))
local col = tonumber(os.getenv("CODEWARD_COL"))

local function finish(status)
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  local f = io.open(out, "w")
  f:write(status .. "\n" .. table.concat(lines, "\n"))
  f:close()
  vim.cmd("qa!")
end

vim.defer_fn(function() finish("timeout") end, 60000)

vim.api.nvim_create_autocmd("LspAttach", {
  callback = function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    vim.lsp.completion.enable(true, client.id, args.buf, { autotrigger = false })
    vim.api.nvim_win_set_cursor(0, { line, col })
    vim.api.nvim_feedkeys("A", "nx", false)
    vim.cmd("startinsert!")
    vim.schedule(function()
      vim.lsp.completion.get()
      local ok = vim.wait(30000, function() return vim.fn.pumvisible() == 1 end, 50)
      if not ok then return finish("no-popup") end
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<C-n><C-y><Esc>", true, false, true),
                            "x", false)
      vim.defer_fn(function() finish("ok") end, 300)
    end)
  end,
})

vim.lsp.start({ name = "codeward", cmd = cmd, root_dir = vim.fn.getcwd() })
